"""YAML -> validated RunConfig. Everything a run needs is checked here, before any data is read."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stages.base import STAGES, Stage, UnknownStageError
from stages.core.partitions import MIN_BUDGET_MB


class ConfigError(ValueError):
    """A user error in the run config; the message names the file and key at fault."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputConfig(_Strict):
    paths: list[str] = Field(description="files, directories, globs or `datasets` folders")
    format: Literal["auto", "jsonl", "parquet", "arrow", "datasets"] = "auto"
    text_field: str = "text"
    id_field: str = "id"
    encoding: Literal["utf-8", "gb18030", "big5", "utf-16", "auto"] = Field(
        "utf-8",
        description="utf-8 refuses other encodings, naming the one a file looks like; auto decodes GBK/GB18030, "
        "Big5 and UTF-16 (with or without BOM) too; gb18030, big5 or utf-16 accept that one besides UTF-8",
    )
    max_doc_chars: int = Field(1_000_000, gt=0, description="longer documents are rejected as read.too_long")
    duplicate_ids: Literal["fail", "rekey"] = Field(
        "fail", description="an id in two places fails the run naming both; rekey makes ids `source:id`"
    )

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class SyntheticSource(_Strict):
    """Synthetic documents that join the run beside the real input, with per-row provenance."""

    name: str
    paths: list[str]
    defaults: dict[str, str] = Field(default_factory=dict, description="provenance for rows that lack it")
    required: list[str] = Field(default_factory=lambda: ["generator", "prompt_id"])

    @field_validator("paths", mode="before")
    @classmethod
    def _one_path(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class OutputConfig(_Strict):
    dir: str = Field(description="a folder, or an fsspec URL (s3://bucket/prefix ...) committed from a staging folder")
    mode: Literal["overwrite", "versions", "append"] = Field(
        "overwrite",
        description="versions: dir is a root of v0001/, v0002/ ...; each run curates only input not curated "
        "before; append: the same, plus dir/data as one dataset over all versions",
    )
    parquet: bool = Field(False, description="also write data as Parquet under parquet/")
    keep_rejected_text: bool = True
    max_shard_docs: int = Field(100_000, gt=0, description="documents per output shard at most")
    staging_dir: str | None = Field(
        None,
        description="where a run on a URL output.dir works before committing to the store "
        "(default ~/.cache/jingxuan/staging/<hash of the URL>; on several Dask nodes, a mount all of them see)",
    )


class ExecutionConfig(_Strict):
    engine: Literal["prefect", "local"] = Field(
        "prefect", description="prefect: a Prefect flow; local: the same runner on a plain process pool"
    )
    task_runner: Literal["process", "thread", "sequential", "dask"] = "process"
    workers: int = Field(2, ge=1)
    batch_size: int = Field(2000, ge=1, description="documents per RecordBatch")
    shard_mb: float = Field(
        4.0,
        gt=0,
        description="input is cut into shards of about this many MB (decompressed), within a file as well as "
        "across files: the unit of parallel work and of resume; output bytes do not depend on it",
    )
    shard_docs: int | None = Field(None, gt=0, description="also cut a shard after this many input rows")
    seed: int = 0
    memory_budget_mb: int = Field(
        2048,
        ge=MIN_BUDGET_MB,  # a worker's own footprint is most of it (stages.core.partitions)
        description="peak RSS per task of every global pass: dedup and curriculum partition their work to fit "
        "(a global stage's own memory_budget_mb overrides it; see docs/scale.md)",
    )
    dask_address: str | None = Field(None, description="tcp://host:8786 of a running Dask scheduler")


class StageSpec(BaseModel):
    """One resolved stage: its registry name, a unique key in this run, and validated parameters."""

    name: str
    key: str
    params: dict[str, Any]  # what the config set (validated); the stage's defaults fill the rest when built
    resolved: dict[str, Any] = Field(default_factory=dict)  # every parameter with its value, for the manifest
    ref: str = ""  # module:Class, so worker processes find stages that are not built in

    def build(self) -> Stage:
        return self.stage_class()(**self.params)

    def stage_class(self) -> type[Stage]:
        return STAGES.get(self.ref or self.name)


# `input: PATH` (or a list of paths) and `output: PATH` stand for `input: {paths: ...}` and `output: {dir: PATH}`.
SHORTHANDS = {"input": "paths", "output": "dir"}


def expand_shorthands(raw: dict[str, Any]) -> dict[str, Any]:
    """The config with `input: PATH` / `output: PATH` spelled out as mappings."""
    out = dict(raw)
    for key, field in SHORTHANDS.items():
        value = out.get(key)
        if isinstance(value, str) or (key == "input" and isinstance(value, list)):
            out[key] = {field: value}
    return out


class RunConfig(_Strict):
    name: str = "run"
    plugins: list[str] = Field(
        default_factory=list, description="your modules to import first, so their stages are found by short name"
    )
    input: InputConfig
    output: OutputConfig
    stages: list[StageSpec]
    synthetic: list[SyntheticSource] = Field(default_factory=list)
    execution: ExecutionConfig = ExecutionConfig()
    base_dir: str = Field(".", description="relative paths resolve against this (the config file's folder)")

    @model_validator(mode="before")
    @classmethod
    def _import_plugins(cls, raw: Any) -> Any:
        if isinstance(raw, dict):
            raw = expand_shorthands(raw)
            for folder in (os.getcwd(), raw.get("base_dir")):
                if folder and folder not in sys.path:
                    sys.path.append(folder)  # a plugin package in the working folder or beside the config
            for i, module in enumerate(raw.get("plugins") or []):
                try:
                    importlib.import_module(module)
                except ImportError as e:
                    raise ValueError(f"plugins[{i}]: cannot import {module!r}: {e}") from None
        return raw

    @field_validator("stages", mode="before")
    @classmethod
    def _parse_stages(cls, items: Any) -> list[StageSpec]:
        return parse_stages(items)

    @model_validator(mode="after")
    def _resolve_stage_paths(self) -> RunConfig:
        for spec in self.stages:
            spec.params = _resolve_paths(spec.params, self.resolve)
            spec.resolved = _resolve_paths(spec.resolved, self.resolve)
        return self

    def resolve(self, path: str) -> str:
        return path if os.path.isabs(path) or "://" in path else os.path.normpath(os.path.join(self.base_dir, path))

    @property
    def run_dir(self) -> str:
        return self.resolve(self.output.dir)

    def build_stages(self) -> list[Stage]:
        return [s.build() for s in self.stages]

    def identity(self) -> dict[str, Any]:
        """What determines the output bytes (not where it is written or how it is executed)."""
        d = self.model_dump(mode="json")
        d["output"] = {k: v for k, v in d["output"].items() if k not in ("dir", "staging_dir")}
        d["execution"] = {k: d["execution"][k] for k in ("batch_size", "seed")}
        d.pop("base_dir")
        d["stage_versions"] = {s.key: s.stage_class().version for s in self.stages}
        for s in d["stages"]:
            s.pop("ref")
            s.pop("params")  # `resolved` holds them with the defaults: a default written out is the same config
        return d

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:16]


PATH_KEYS = ("path", "model", "paths", "files")
PATH_SUFFIXES = ("_path", "_file", "_files", "_dir")


def _is_path_key(key: str) -> bool:
    return key in PATH_KEYS or key.endswith(PATH_SUFFIXES)


def _resolve_paths(value: Any, resolve: Any, key: str = "") -> Any:
    """Stage parameters named like paths (`path`, `model`, `*_file(s)`, `*_dir` ...) resolve against the config's
    folder, like input and output paths, so a recipe works from any working directory."""
    if isinstance(value, dict):
        return {k: _resolve_paths(v, resolve, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_paths(v, resolve, key) for v in value]
    if isinstance(value, str) and value and _is_path_key(key):
        return resolve(value)
    return value


def parse_stages(items: Any) -> list[StageSpec]:
    if isinstance(items, list) and all(isinstance(i, StageSpec) for i in items):
        return items
    if not isinstance(items, list) or not items:
        raise ValueError("stages: give a non-empty list, each item `- stage_name: {param: value}`")
    specs: list[StageSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if isinstance(item, dict) and set(item) <= {"name", "key", "params", "resolved", "ref"} and "name" in item:
            name, params = item["name"], item.get("params") or {}  # a dumped StageSpec
        elif isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, dict) and len(item) == 1:
            name, params = next(iter(item.items()))
            params = params or {}
        else:
            raise ValueError(f"stages[{i}]: each item maps one stage name to its parameters, got {item!r}")
        if not isinstance(params, dict):
            raise ValueError(f"stages[{i}].{name}: parameters must be a mapping, got {params!r}")
        try:
            cls = STAGES.get(name)
        except UnknownStageError as e:
            raise ValueError(f"stages[{i}]: {e}") from None
        try:
            stage = cls(**params)
        except ValidationError as e:
            raise ValueError(_stage_errors(f"stages[{i}].{name}", cls, e)) from None
        seen[name] = seen.get(name, 0) + 1
        key = name if seen[name] == 1 else f"{name}_{seen[name]}"
        ref = f"{cls.__module__}:{cls.__qualname__}"
        specs.append(
            StageSpec(
                name=name,
                key=key,
                params=stage.model_dump(mode="json", exclude_unset=True),
                resolved=stage.params(),
                ref=ref,
            )
        )
    return specs


def _stage_errors(where: str, cls: type[Stage], e: ValidationError) -> str:
    allowed = ", ".join(cls.model_fields) or "(none)"
    lines = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{where}.{loc}: unknown parameter; allowed: {allowed}")
        else:
            lines.append(f"{where}.{loc}: {err['msg']} (got {err.get('input')!r})")
    return "; ".join(lines)


def load_config(path: str, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML run config; `overrides` are dotted keys (`output.dir`)."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with input, output and stages")
    raw.setdefault("base_dir", os.path.dirname(os.path.abspath(path)))
    raw = expand_shorthands(raw)
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, leaf = dotted.split(".")
        for i, p in enumerate(parents):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                where = ".".join(parents[: i + 1])
                raise ConfigError(f"{path}: {where} must be a mapping to set {dotted} (it is {node!r})")
        node[leaf] = value
    return validate_config(raw, source=path)


def validate_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: " + "; ".join(_describe(err) for err in e.errors())) from None


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        parent = err["loc"][:-1]
        model: Any = RunConfig
        for p in parent:
            model = model.model_fields[p].annotation if hasattr(model, "model_fields") else model
        allowed = ", ".join(model.model_fields) if hasattr(model, "model_fields") else ""
        return f"{loc}: unknown key; allowed: {allowed}"
    if err["type"] == "missing":
        return f"{loc}: required key is missing"
    if loc.startswith("stages"):
        return msg
    return f"{loc}: {msg} (got {err.get('input')!r})"
