"""A real, small curated run (sample documents, curriculum easy_to_hard) that the proxy tests read."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import validate_config
from pipeline.runner import run_local


@pytest.fixture(scope="session")
def curated_run(repo_dir: Path, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("proxy") / "run"
    cfg = validate_config(
        {
            "name": "proxy_tiny",
            "base_dir": str(repo_dir),
            "input": {"paths": [f"sample_data/{n}.jsonl" for n in ("news", "encyclopedia", "traditional", "pii")]},
            "output": {"dir": str(out)},
            "stages": [{"normalize": {}}, {"curriculum": {"schedule": "easy_to_hard"}}],
            "execution": {"engine": "local", "workers": 1},
        }
    )
    return run_local(cfg).run_dir
