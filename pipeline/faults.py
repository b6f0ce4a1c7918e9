"""Named kill points, so tests can SIGKILL a run at an exact moment and prove that a restart resumes it.

`JINGXUAN_KILL_AT=global:minhash_dedup:1` kills the whole process group when that point is reached for the
first time; `JINGXUAN_KILL_AT=shard-write:0:1` ... Unset (always, outside tests), a checkpoint is one dict
lookup."""

from __future__ import annotations

import os
import signal

ENV = "JINGXUAN_KILL_AT"


def checkpoint(name: str) -> None:
    target = os.environ.get(ENV)
    if target and target == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)
