"""Kill sample runs with SIGINT, SIGTERM and SIGKILL at seeded random moments, restart them, and check that the
output is byte-identical to an uninterrupted run and that manifest.json said the right thing after every kill.

    flock /tmp/bench.lock .venv/bin/python bench/fault_injection.py --kills 24 --prefect-kills 4

Kills come in chains of three on one output folder (a killed run, restarted, is killed again ...), then the
last restart runs to the end and its data/ and rejected/ bytes are compared with the baseline's. Local-engine
runs take ~10-15 s on this machine, Prefect runs ~20-40 s more (their API server starts each time).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import faults  # noqa: E402

SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=24, help="kills with the local engine")
    ap.add_argument("--prefect-kills", type=int, default=4, help="kills with the Prefect engine")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--shard-mb", type=float, default=0.05, help="input shard size: small, so worker pools run")
    args = ap.parse_args()
    os.chdir(REPO)
    tmp = Path(tempfile.mkdtemp(prefix="jingxuan-faults-"))
    args.config = faults.sample_config(str(REPO), str(tmp / "sample.yaml"), args.shard_mb)
    base = str(tmp / "baseline")
    t0 = time.monotonic()
    done = faults.run_to_end(faults.cli_command(args.config, base, "local"))
    assert done.returncode == 0, done.stderr
    run_seconds = time.monotonic() - t0
    expected = faults.output_bytes(base)
    print(f"baseline: {run_seconds:.1f} s, {len(expected)} files; kills at uniform(0, {run_seconds:.1f}) s after start")
    rows = []
    for engine, n, signals in (
        ("local", args.kills, SIGNALS),
        ("prefect", args.prefect_kills, ("SIGINT", "SIGTERM")),
    ):
        kills = faults.random_kills(args.seed + len(rows), n, signals, run_seconds)
        for c in range(0, n, 3):
            out = str(tmp / f"{engine}-{c // 3:02d}")
            chain = kills[c : c + 3]
            for k in chain:
                faults.run_killed(faults.cli_command(args.config, out, engine), out, k)
            final = faults.run_to_end(faults.cli_command(args.config, out, engine))
            same = final.returncode == 0 and faults.output_bytes(out) == expected
            for k in chain:
                codes, statuses = k.expected()
                one_line = k.returncode == 0 or (
                    "Traceback" not in k.stderr and len(k.stderr.strip().splitlines()) <= 2  # Prefect's start notice
                )
                finished = k.status == "complete"  # output whole before the signal took effect
                rows.append((engine, k, k.returncode in codes, finished or k.status in statuses, one_line, same))
    print()
    print(
        f"{'engine':<8}{'signal':<9}{'kills':>6}{'done before':>15}{'rc ok':>7}{'status ok':>10}"
        f"{'one line':>9}{'max stop s':>11}{'survivors':>10}{'identical':>10}"
    )
    for engine in ("local", "prefect"):
        for sig in SIGNALS:
            sel = [r for r in rows if r[0] == engine and r[1].signal == sig]
            if not sel:
                continue
            print(
                f"{engine:<8}{sig:<9}{len(sel):>6}{sum(r[1].status == 'complete' for r in sel):>15}"
                f"{sum(r[2] for r in sel):>7}{sum(r[3] for r in sel):>10}{sum(r[4] for r in sel):>9}"
                f"{max(r[1].seconds_to_stop for r in sel):>11.1f}{sum(r[1].survivors for r in sel):>10}"
                f"{sum(r[5] for r in sel):>10}"
            )
    bad = [r for r in rows if not all(r[2:])]
    for engine, k, *_ in bad:
        print(f"FAILED {engine} {k.signal} at {k.delay} s: rc {k.returncode}, status {k.status}, {k.stderr[-300:]!r}")
    print(f"\n{len(rows)} kills, {len(rows) - len(bad)} right; output folders under {tmp}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
