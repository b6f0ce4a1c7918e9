"""How a run ends is recorded: a failed task makes manifest.json say `failed` (it used to stay `running`) and is
never counted as done. Signals are tested on whole runs in test_faults.py."""

import json
from pathlib import Path

import pytest

from pipeline.config import validate_config
from pipeline.runner import run_local
from stages.base import Filter

DOC = "长江是中国第一长河，发源于青藏高原的唐古拉山脉，流经十一个省级行政区，最后注入东海，全长约六千三百公里。"


class _StopProbeFilter(Filter):
    """Fails on documents that say so, like a stage meeting a bug."""

    name = "stop_probe_filter"

    def keep_doc(self, text: str) -> bool:
        if "BOOM" in text:
            raise ValueError("stop_probe_filter: cannot judge this document")
        return True


def test_a_failed_task_marks_the_run_failed_and_is_not_counted_done(tmp_path: Path):
    (tmp_path / "in").mkdir()
    for name, text in (("a.jsonl", DOC), ("b.jsonl", DOC + "BOOM")):
        (tmp_path / "in" / name).write_text(json.dumps({"text": text}, ensure_ascii=False) + "\n", "utf-8")
    cfg = validate_config(
        {
            "input": {"paths": [str(tmp_path / "in" / "*.jsonl")]},
            "output": {"dir": str(tmp_path / "out")},
            "stages": ["stop_probe_filter"],
            "execution": {"engine": "local", "task_runner": "thread", "workers": 2},
        }
    )
    seen = []
    with pytest.raises(ValueError, match="cannot judge"):
        run_local(cfg, progress=lambda label, done, total: seen.append((done, total)))
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["reason"] == "stop_probe_filter: cannot judge this document"
    assert (2, 2) not in seen
