"""`jingxuan` command: a thin layer over pipeline/ and stages/. User errors print one line, no traceback."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Callable
from typing import Any

from pipeline import env

env.configure()

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {}


def command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    COMMANDS[fn.__name__.removeprefix("cmd_").replace("_", "-")] = fn
    return fn


def _user_errors() -> tuple[type[BaseException], ...]:
    from pipeline.config import ConfigError
    from pipeline.disk import OutputError
    from pipeline.io.files import InputError
    from pipeline.outdir import OutputFolderError
    from pipeline.proxy_eval.corpus import ProxyEvalError
    from pipeline.tune import TuneError
    from stages.base import UnknownStageError

    return (
        ConfigError,
        InputError,
        TuneError,
        OutputError,
        OutputFolderError,
        UnknownStageError,
        ProxyEvalError,
        FileNotFoundError,
        NotADirectoryError,
        FileExistsError,
    )


# -- run ----------------------------------------------------------------------------------------------------


@command
def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config

    overrides: dict[str, Any] = {}
    if args.output:
        overrides["output.dir"] = args.output if "://" in args.output else os.path.abspath(args.output)
    if args.engine:
        overrides["execution.engine"] = args.engine
    if args.workers:
        overrides["execution.workers"] = args.workers
    cfg = load_config(args.config, overrides)
    if args.annotate:
        from pipeline.tune import annotated

        cfg = annotated(cfg)
    if args.dry_run:
        print(dry_run(cfg))
        return 0
    if not (args.verbose or args.debug):
        # Prefect logs a failed flow's traceback at ERROR; this command prints the one-line reason itself
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
    from pipeline.runner import finished_run
    from pipeline.stop import stop_on_signals

    done = finished_run(cfg)
    if done is not None:
        print(f"nothing to do: {cfg.run_dir} holds a complete run of this config over the same input", file=sys.stderr)
        print(done.summary())
        return 0
    with stop_on_signals(None), _progress_bar(enabled=not args.quiet) as progress:
        if cfg.execution.engine == "prefect":
            print(
                "starting the Prefect flow (a local API server starts first; ~20-40 s the first time)", file=sys.stderr
            )
            from pipeline.flows import run_flow

            result = run_flow(cfg, progress, force=args.force)
        else:
            from pipeline.runner import run_local

            result = run_local(cfg, progress, force=args.force)
    if result is None:
        print(f"nothing new to curate: every input file is already in a version under {cfg.run_dir}")
        return 0
    print(result.summary())
    if "://" in cfg.output.dir:
        print(f"committed  {cfg.output.dir}   (from the staging folder {result.run_dir})")
    return 0


def dry_run(cfg: Any) -> str:
    """What a run would read and do, without running a stage: inputs, estimated documents and size."""
    from pipeline.io.listing import list_inputs
    from pipeline.io.reading import estimate_rows
    from pipeline.runner import segments

    inputs = list_inputs(cfg.input, cfg.synthetic, cfg.resolve)
    lines = [f"config ok: {cfg.name} (hash {cfg.config_hash()}), output {cfg.run_dir}", "", "inputs:"]
    total_rows = total_bytes = 0
    for f in inputs:
        rows = estimate_rows(f)
        total_rows += rows
        total_bytes += f.size
        lines.append(f"  {f.source:<48} {f.format:<8} {f.encoding:<8} {f.size / 1e6:>9.2f} MB  ~{rows:,} docs")
    lines.append(f"  {len(inputs)} files, {total_bytes / 1e6:.2f} MB, ~{total_rows:,} documents")
    lines += ["", "plan:"]
    for seg in segments(cfg):
        per = (
            f"{len(inputs)} files in ~{cfg.execution.shard_mb:g} MB shards" if seg.kind == "shard" else "global passes"
        )
        lines.append(f"  {seg.kind:<7} {seg.label}  ({per})")
    return "\n".join(lines)


@command
def cmd_new_stage(args: argparse.Namespace) -> int:
    from pipeline.scaffold import new_stage

    written = new_stage(args.name, args.package, args.root)
    print("wrote " + ", ".join(written))
    print(f"use it in YAML: plugins: [{args.package}.{args.name}]  and  stages: [- {args.name}: {{min_chars: 10}}]")
    return 0


# -- schedule, runs -----------------------------------------------------------------------------------------


@command
def cmd_schedule(args: argparse.Namespace) -> int:
    from pipeline.config import load_config

    if not args.cron and not args.interval:
        raise SystemExit('jingxuan schedule: give --cron "0 3 * * *" or --interval SECONDS')
    cfg = load_config(args.config)
    server = None
    if not os.environ.get("PREFECT_API_URL"):
        from pipeline.server import start_local_server

        server = start_local_server(port=args.port)
        os.environ["PREFECT_API_URL"] = server.api_url
        print(f"Prefect server at {server.ui_url} (UI); stop with Ctrl-C", file=sys.stderr)
    from pipeline.flows import serve

    print(
        f"serving deployment jingxuan-curate/{args.name or cfg.name} ({args.cron or f'every {args.interval} s'}); "
        f"output under {cfg.run_dir}",
        file=sys.stderr,
    )
    try:
        serve(cfg, cron=args.cron, interval=args.interval, name=args.name)
    finally:
        if server is not None:
            server.stop()
    return 0


@command
def cmd_runs(args: argparse.Namespace) -> int:
    from pipeline import versions
    from pipeline.config import load_config

    root = load_config(args.target).run_dir if args.target.endswith((".yaml", ".yml")) else args.target
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such output folder")
    print(versions.table(root))
    return 0


class _progress_bar:
    """A bar per segment/pass on stderr (rich), updated as tasks finish."""

    def __init__(self, enabled: bool):
        self.quiet = not enabled
        self.enabled = enabled and sys.stderr.isatty()
        self._bars: dict[str, Any] = {}

    def __enter__(self) -> Callable[[str, int, int], None] | None:
        if self.quiet:
            return None
        if not self.enabled:
            return _plain_progress
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
        )
        self._progress.start()
        return self._update

    def _update(self, label: str, done: int, total: int) -> None:
        if label not in self._bars:
            self._bars[label] = self._progress.add_task(label, total=total)
        self._progress.update(self._bars[label], completed=done, total=total)

    def __exit__(self, *_: Any) -> None:
        if self.enabled:
            self._progress.stop()


def _plain_progress(label: str, done: int, total: int) -> None:
    if done == total:
        print(f"{label}: {done}/{total} tasks done", file=sys.stderr)


# -- inspecting runs, training -------------------------------------------------------------------------------


@command
def cmd_stats(args: argparse.Namespace) -> int:
    import glob

    from pipeline.report.phases import phase_table
    from pipeline.signals import signal_table
    from stages.core.atomic import read_json

    print(signal_table(args.run_dir))
    for path in sorted(glob.glob(os.path.join(args.run_dir, "curriculum*.json"))):
        print()
        print(phase_table(path) + "\n(phases as the curriculum ordered them, before synthetic injection)")
    stats_path = os.path.join(args.run_dir, "stats.json")
    reports = read_json(stats_path).get("reports", {}) if os.path.exists(stats_path) else {}
    for key, rep in reports.items():
        if isinstance(rep, dict) and "achieved_ratio" in rep and "phases" in rep:
            print(f"\n{key}: synthetic share per phase ({rep['unit']}), target -> achieved")
            for ph in rep["phases"]:
                print(
                    f"  phase {ph['phase']}: real {ph['real_docs']:,}  synthetic {ph['synthetic_docs']:,}  "
                    f"{ph['target_ratio']:.3f} -> {ph['achieved_ratio']:.3f}  shortfall {ph['shortfall']}"
                )
    return 0


@command
def cmd_dedup_inspect(args: argparse.Namespace) -> int:
    from pipeline.report.dedup_inspect import dedup_inspect

    print(dedup_inspect(args.run_dir, top=args.top, pairs=args.pairs))
    return 0


@command
def cmd_report(args: argparse.Namespace) -> int:
    from pipeline.report import report_command

    print(report_command(args.run_dir, open_browser=args.open))
    return 0


@command
def cmd_train_quality(args: argparse.Namespace) -> int:
    from stages.quality.classifier import train_quality

    meta = train_quality(
        args.positive,
        args.negative,
        args.output,
        holdout=args.holdout,
        text_field=args.text_field,
        balance_files=args.balance_files,
        seed=args.seed,
    )
    m = meta["metrics"]["holdout"]
    print(f"model {args.output} (+ .json metadata); held-out: " + ", ".join(f"{k} {v}" for k, v in m.items()))
    return 0


@command
def cmd_tune(args: argparse.Namespace) -> int:
    from pipeline.tune import format_result, tune_run

    result = tune_run(
        args.run_dir, args.good, args.bad or [], max_loss=args.max_loss, output=args.output, tighten=args.tighten
    )
    print(format_result(result, all_tables=not args.changes_only))
    if args.output:
        print(f"\nrecipe with these thresholds: {args.output}  (jingxuan run {args.output})")
    return 0


@command
def cmd_curriculum_eval(args: argparse.Namespace) -> int:
    from pipeline.proxy_eval.harness import run_curriculum_eval
    from pipeline.proxy_eval.results import text_table, verdict
    from pipeline.proxy_eval.settings import EvalSettings, ModelSettings

    model = ModelSettings(
        d_model=args.d_model,
        layers=args.layers,
        heads=args.heads,
        context=args.context,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    settings = EvalSettings(
        orders=tuple(args.orders),
        seeds=tuple(args.seeds),
        steps=args.steps,
        evals=args.evals,
        holdout=args.holdout,
        budget_minutes=args.budget_minutes or None,
        threads=args.threads,
        device=args.device,
        model=model,
    )
    result = run_curriculum_eval(args.run_dir, settings, log=lambda line: print(line, file=sys.stderr))
    print(text_table(result))
    print()
    print("\n".join(verdict(result)))
    return 0


# -- stages -------------------------------------------------------------------------------------------------


@command
def cmd_stages(args: argparse.Namespace) -> int:
    from stages.base import STAGES

    if args.doc:
        print(stage_doc(STAGES.get(args.doc)))
        return 0
    for name, cls in STAGES.available().items():
        params = ", ".join(f"{p}={_default(f)}" for p, f in cls.model_fields.items())
        print(f"{name:<24} {cls.kind:<7} v{cls.version}  {params}")
    return 0


def stage_doc(cls: type) -> str:
    lines = [f"{cls.name} ({cls.kind}, version {cls.version}) — {cls.__module__}:{cls.__qualname__}", ""]
    lines.append(textwrap.dedent(cls.__doc__ or "(no docstring)").strip())
    lines += ["", "parameters:"]
    for p, f in cls.model_fields.items():
        desc = f" — {f.description}" if f.description else ""
        lines.append(f"  {p}: {_type_name(f.annotation)} = {_default(f)}{desc}")
    if cls.adds:
        lines += ["", "adds columns: " + ", ".join(cls.adds)]
    return "\n".join(lines)


def _default(field: Any) -> str:
    return "<required>" if field.is_required() else repr(field.get_default(call_default_factory=True))


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


# -- entry point --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from pipeline.proxy_eval.settings import ORDERS, EvalSettings, ModelSettings

    parser = argparse.ArgumentParser(prog="jingxuan", description="Curate Chinese-language corpora for LLM training.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a curation config once", description="Run a curation config once.")
    p.add_argument("config", help="YAML run config (see configs/)")
    p.add_argument("--output", help="run directory (overrides output.dir)")
    p.add_argument("--engine", choices=["prefect", "local"], help="override execution.engine")
    p.add_argument("--workers", type=int, help="override execution.workers")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true", help="show Prefect's logs")
    p.add_argument("--dry-run", action="store_true", help="validate, list inputs and estimate size; run nothing")
    p.add_argument("--force", action="store_true", help="replace an output folder that holds another config's run")
    p.add_argument("--annotate", action="store_true", help="every filter in mode: annotate (for `jingxuan tune`)")

    p = sub.add_parser(
        "schedule",
        help="serve a config as a scheduled Prefect deployment",
        description="Serve the curation flow as a Prefect deployment on a schedule. Uses "
        "PREFECT_API_URL when set, else starts a local `prefect server` (UI on --port).",
    )
    p.add_argument("config", help="YAML run config; use output.mode: versions to curate only new input")
    p.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *"')
    p.add_argument("--interval", type=float, help="run every N seconds")
    p.add_argument("--name", help="deployment name (default: the config's name)")
    p.add_argument("--port", type=int, default=4200, help="port of the local Prefect server")

    p = sub.add_parser(
        "runs",
        help="list the dataset versions under an output root",
        description="List runs and dataset versions (output.mode: versions).",
    )
    p.add_argument("target", help="a run config or its output.dir")

    p = sub.add_parser(
        "new-stage",
        help="scaffold a filter stage and its test in your own package",
        description="Write PACKAGE/NAME.py (a working Filter) and tests/test_NAME.py; name it in YAML via plugins.",
    )
    p.add_argument("name", help="snake_case name ending in _filter, e.g. short_line_filter")
    p.add_argument("--package", default="my_stages", help="your package (created if missing)")
    p.add_argument("--root", default=".", help="folder that holds the package and tests/")

    p = sub.add_parser(
        "stats",
        help="percentiles of every signal column of a run, and difficulty per curriculum phase",
        description="Print p1..p99 of each numeric `_` column in RUN_DIR/data, to choose thresholds, and the "
        "documents, characters and difficulty of each curriculum phase.",
    )
    p.add_argument("run_dir", help="a run directory (output.dir)")

    p = sub.add_parser(
        "dedup-inspect",
        help="largest duplicate clusters and sample pairs with estimated and true Jaccard",
        description="Show the largest near-duplicate clusters of a run and sample pairs with their estimated "
        "(MinHash) and true (shingle-set) Jaccard, to judge the threshold.",
    )
    p.add_argument("run_dir", help="a run directory that ran minhash_dedup")
    p.add_argument("--top", type=int, default=10, help="clusters to show")
    p.add_argument("--pairs", type=int, default=20, help="sample pairs to show")

    p = sub.add_parser(
        "report",
        help="(re)write a run's report.html",
        description="Write RUN_DIR/report.html: funnel, drop reasons with examples, signal histograms, phases.",
    )
    p.add_argument("run_dir", help="a run directory (output.dir)")
    p.add_argument("--open", action="store_true", help="open it in a browser")

    p = sub.add_parser(
        "train-quality",
        help="train the quality classifier on positive and negative documents",
        description="Train the hashed character n-gram classifier used by the quality_classifier stage.",
    )
    p.add_argument("--positive", nargs="+", required=True, metavar="FILE", help=".jsonl/.parquet/.txt of good text")
    p.add_argument("--negative", nargs="+", required=True, metavar="FILE", help=".jsonl/.parquet/.txt of bad text")
    p.add_argument("--output", required=True, help="model path (.npz; metadata goes beside it as .json)")
    p.add_argument("--holdout", type=float, default=0.2, help="share of documents kept out to measure")
    p.add_argument("--text-field", default="text", help="text field of JSONL/Parquet input")
    p.add_argument("--balance-files", action="store_true", help="weigh every input file equally")
    p.add_argument("--seed", type=int, default=0, help="seed of the training shuffle")

    p = sub.add_parser(
        "tune",
        help="propose filter thresholds from labelled good and bad samples of an annotate-mode run",
        description="Read a run whose filters ran with `mode: annotate`, label its documents by the input file "
        "they came from (or COLUMN=VALUE), print what each threshold would keep of every labelled group, propose "
        "thresholds that keep every good group (each rule may drop at most --max-loss of any one of them), and "
        "write them as a runnable recipe with --output.",
    )
    p.add_argument("run_dir", help="a run directory whose filters ran with mode: annotate")
    p.add_argument("--good", nargs="+", required=True, metavar="F", help="input files (path or glob) or COLUMN=VALUE")
    p.add_argument("--bad", nargs="*", metavar="F", help="input files (path or glob) or COLUMN=VALUE")
    p.add_argument("--max-loss", type=float, default=0.01, help="share of one good group a rule may drop (0.01)")
    p.add_argument("--tighten", action="store_true", help="also tighten thresholds where that drops more bad text")
    p.add_argument("--output", metavar="YAML", help="write the recipe with the proposed thresholds here")
    p.add_argument("--changes-only", action="store_true", help="print tables only for changed thresholds")

    p = sub.add_parser(
        "curriculum-eval",
        help="train small proxy models on a run in curriculum, shuffled and reversed order; compare held-out loss",
        description="Train a small byte-level language model (torch; pip install 'jingxuan[eval]') on RUN_DIR/data "
        "read in curriculum order, shuffled and reversed: the same documents, bytes and seeds, with documents held "
        "out (by id hash) before ordering. Writes curriculum_eval.json, curriculum_eval.svg and a report.html "
        "section; prints held-out loss by order (mean ± sd over seeds) and whether an order beats the shuffle.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", help="a finished run directory (its data/ is read in training order)")
    ev, mo = EvalSettings(), ModelSettings()
    p.add_argument("--orders", nargs="+", default=list(ORDERS), choices=ORDERS, help="orders to train on")
    p.add_argument("--seeds", nargs="+", type=int, default=list(ev.seeds), help="seeds (model init and the shuffle)")
    p.add_argument(
        "--steps",
        type=int,
        default=ev.steps,
        help="training steps per order and seed (fewer if the data or the time budget cannot hold them; the "
        "output says so)",
    )
    p.add_argument(
        "--budget-minutes",
        type=float,
        default=ev.budget_minutes,
        help="time for all runs; steps are scaled down to fit (0: no limit)",
    )
    p.add_argument("--evals", type=int, default=ev.evals, help="held-out measurements per run (after step 0)")
    p.add_argument("--holdout", type=float, default=ev.holdout, help="share of documents held out")
    p.add_argument("--d-model", type=int, default=mo.d_model, help="model width")
    p.add_argument("--layers", type=int, default=mo.layers, help="transformer layers")
    p.add_argument("--heads", type=int, default=mo.heads, help="attention heads")
    p.add_argument("--context", type=int, default=mo.context, help="bytes per training window")
    p.add_argument("--batch-size", type=int, default=mo.batch_size, help="windows per step")
    p.add_argument("--lr", type=float, default=mo.lr, help="peak learning rate (warm-up, then cosine to a tenth)")
    p.add_argument("--threads", type=int, default=ev.threads, help="torch CPU threads (fixed: reproducible numbers)")
    p.add_argument("--device", default=ev.device, choices=["auto", "cpu", "cuda"], help="auto: CUDA when present")

    p = sub.add_parser(
        "stages",
        help="list registered stages and their parameters",
        description="List registered stages with parameters and defaults.",
    )
    p.add_argument("--doc", metavar="NAME", help="print one stage's docstring and parameters")
    return parser


def _one_line_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    print(f"jingxuan: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.debug:
        import warnings

        warnings.showwarning = _one_line_warning
    try:
        return COMMANDS[args.command](args)
    except _user_errors() as e:
        if args.debug:
            raise
        print(f"jingxuan: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or read-only folder under any command (report, train-quality ...)
        from pipeline.disk import output_error

        err = output_error(e, os.getcwd())
        if err is None or args.debug:
            raise
        print(f"jingxuan: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jingxuan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
