"""`jingxuan new-stage NAME`: a working filter stage and its test in the user's own package."""

from __future__ import annotations

import os
import re

STAGE = '''"""{title}: say here what the filter is for and where its default threshold comes from."""

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from stages.base import Filter


class {cls}(Filter):
    """Drops documents shorter than `min_chars` characters (edit: your rule, and why its default)."""

    name: ClassVar[str] = "{name}"
    reason: ClassVar[str] = "too_short"
    thresholds: ClassVar[dict[str, tuple[str, ...]]] = {{"_{signal}": ("min_chars",)}}
    min_chars: int = 10

    def annotate(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.append_column("_{signal}", pc.utf8_length(batch.column("text")))

    def keep_mask(self, batch: pa.RecordBatch) -> pa.Array:
        return pc.greater_equal(batch.column("_{signal}"), self.min_chars)
'''

TEST = """from {package}.{module} import {cls}
from stages.testing import run_stage


def test_{name}_drops_short_documents_with_a_reason():
    out = run_stage({cls}(min_chars=5), ["短文", "这是一篇足够长的文档。"])
    assert out.kept.column("id").to_pylist() == ["d1"]
    assert out.stats.reasons == {{"too_short": 1}}


def test_{name}_annotate_mode_drops_nothing():
    out = run_stage({cls}(min_chars=5, mode="annotate"), ["短文", "这是一篇足够长的文档。"])
    assert out.kept.num_rows == 2 and out.stats.counters == {{"would_drop.too_short": 1}}
"""


def new_stage(name: str, package: str = "my_stages", root: str = ".") -> list[str]:
    """Write PACKAGE/NAME.py and tests/test_NAME.py under ROOT; returns the paths written."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*_(filter|mapper)", name):
        raise ValueError(f"stage name {name!r}: use snake_case ending in _filter (e.g. short_line_filter)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", package):
        raise ValueError(f"package {package!r} is not a Python package name")
    cls = "".join(part.title() for part in name.split("_"))
    signal = name.removesuffix("_filter").removesuffix("_mapper") + "_len"
    pkg_dir = os.path.join(root, *package.split("."))
    stage_path = os.path.join(pkg_dir, f"{name}.py")
    test_path = os.path.join(root, "tests", f"test_{name}.py")
    for path in (stage_path, test_path):
        if os.path.exists(path):
            raise FileExistsError(f"{path} exists; not overwriting it")
    tests_dir = os.path.dirname(test_path)
    if not os.path.isdir(tests_dir):
        os.makedirs(tests_dir)
        # a package, so pytest puts ROOT (and the user's package) on sys.path
        open(os.path.join(tests_dir, "__init__.py"), "w").close()
    os.makedirs(pkg_dir, exist_ok=True)
    init = os.path.join(pkg_dir, "__init__.py")
    if not os.path.exists(init):
        open(init, "w").close()
    fields = dict(title=name, cls=cls, name=name, signal=signal, package=package, module=name)
    with open(stage_path, "w", encoding="utf-8") as f:
        f.write(STAGE.format(**fields))
    with open(test_path, "w", encoding="utf-8") as f:
        f.write(TEST.format(**fields))
    return [stage_path, test_path]
