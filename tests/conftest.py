"""Shared fixtures. Real corpora live in ../shared next to the repository and are never copied in."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JINGXUAN_SHARED", REPO.parent / "shared")).resolve()

# Nothing in the tests may reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Derived tables are cached in a folder of this session, not the user's ~/.cache (stages.core.derived).
os.environ.setdefault("JINGXUAN_CACHE_DIR", tempfile.mkdtemp(prefix="jingxuan-test-cache-"))


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared (corpora from public sources); tests that need it skip where it is absent."""
    if not (SHARED / "corpora").is_dir():
        pytest.skip(f"real corpora not found at {SHARED}/corpora (set JINGXUAN_SHARED to its parent folder)")
    return SHARED
