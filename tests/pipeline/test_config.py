from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config, validate_config
from stages.base import Filter


class _ConfigProbeFilter(Filter):
    """A tiny filter for config tests."""

    name = "config_probe_filter"
    min_chars: int = 3

    def keep_doc(self, text: str) -> bool:
        return len(text) >= self.min_chars


def _raw(**overrides):
    raw = {"input": {"paths": ["in.jsonl"]}, "output": {"dir": "out"}, "stages": [{"config_probe_filter": {}}]}
    raw.update(overrides)
    return raw


def test_valid_config_resolves_stage_keys_and_defaults():
    cfg = validate_config(_raw(stages=["config_probe_filter", {"config_probe_filter": {"min_chars": 5}}]))
    assert [s.key for s in cfg.stages] == ["config_probe_filter", "config_probe_filter_2"]
    assert cfg.stages[0].params == {} and cfg.stages[0].resolved == {"mode": "filter", "min_chars": 3}
    assert cfg.stages[1].build().min_chars == 5


@pytest.mark.parametrize(
    ("stages", "expected"),
    [
        (["no_such_stage"], "stages[0]: unknown stage 'no_such_stage'; known stages:"),
        (
            [{"config_probe_filter": {"min_char": 3}}],
            "stages[0].config_probe_filter.min_char: unknown parameter; allowed: mode, min_chars",
        ),
        ([{"config_probe_filter": {"min_chars": "many"}}], "stages[0].config_probe_filter.min_chars: Input should be"),
        ([{"config_probe_filter": {"mode": "drop"}}], "Input should be 'filter' or 'annotate'"),
        ([{"a": 1, "b": 2}], "stages[0]: each item maps one stage name to its parameters"),
    ],
)
def test_stage_errors_name_the_key_and_allowed_values(stages, expected):
    with pytest.raises(ConfigError) as e:
        validate_config(_raw(stages=stages))
    assert expected in str(e.value)


def test_unknown_top_level_and_nested_keys_list_allowed_keys():
    with pytest.raises(ConfigError, match=r"execution.wrokers: unknown key; allowed: engine, task_runner, workers"):
        validate_config(_raw(execution={"wrokers": 2}))
    with pytest.raises(ConfigError, match=r"outptu: unknown key"):
        validate_config(_raw(outptu={}))
    with pytest.raises(
        ConfigError, match=r"input.encoding: Input should be 'utf-8', 'gb18030', 'big5', 'utf-16' or 'auto'"
    ):
        validate_config(_raw(input={"paths": ["x"], "encoding": "latin1"}))
    with pytest.raises(ConfigError, match=r"output: required key is missing"):
        validate_config({"input": {"paths": ["x"]}, "stages": ["config_probe_filter"]})


def test_load_config_resolves_paths_against_the_config_folder(tmp_path: Path):
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "run.yaml"
    path.write_text("input: {paths: ../data/*.jsonl}\noutput: {dir: ../out}\nstages: [config_probe_filter]\n")
    cfg = load_config(str(path), {"execution.workers": 1})
    assert cfg.input.paths == ["../data/*.jsonl"]
    assert cfg.resolve(cfg.input.paths[0]) == str(tmp_path / "data" / "*.jsonl")
    assert cfg.run_dir == str(tmp_path / "out")
    assert cfg.execution.workers == 1


def test_input_and_output_shorthands(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text("input: data/*.jsonl\noutput: out\nstages: [config_probe_filter]\n")
    cfg = load_config(str(path))
    assert cfg.input.paths == ["data/*.jsonl"] and cfg.run_dir == str(tmp_path / "out")
    cfg = load_config(str(path), {"output.dir": str(tmp_path / "elsewhere"), "input.encoding": "auto"})
    assert cfg.run_dir == str(tmp_path / "elsewhere") and cfg.input.encoding == "auto"
    listed = validate_config({**_raw(), "input": ["a.jsonl", "b.jsonl"], "output": "o"})
    assert listed.input.paths == ["a.jsonl", "b.jsonl"] and listed.output.dir == "o"
    path.write_text("input: data/*.jsonl\noutput: out\nexecution: 4\nstages: [config_probe_filter]\n")
    with pytest.raises(ConfigError, match=r"execution must be a mapping to set execution.workers"):
        load_config(str(path), {"execution.workers": 1})


def test_bad_yaml_and_missing_file_are_one_line_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_config_hash_ignores_where_and_how_but_not_what():
    a = validate_config(_raw())
    b = validate_config(_raw(output={"dir": "elsewhere"}, execution={"workers": 1}))
    c = validate_config(_raw(stages=[{"config_probe_filter": {"min_chars": 4}}]))
    assert a.config_hash() == b.config_hash() != c.config_hash()


def test_shipped_configs_validate(repo_dir: Path):
    for path in sorted((repo_dir / "configs").glob("*.yaml")):
        load_config(str(path))


class _PathProbeFilter(Filter):
    """Test filter with path-like parameters."""

    name = "config_path_probe_filter"
    model: str = ""
    extra_files: tuple[str, ...] = ()
    threshold: str = "0.5"

    def keep_doc(self, text: str) -> bool:
        return True


def test_path_parameters_of_stages_resolve_against_the_config_folder(tmp_path: Path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "input: {paths: x.jsonl}\noutput: {dir: out}\nstages:\n"
        "  - config_path_probe_filter: {model: models/q.npz, extra_files: [a.txt, /abs/b.txt], threshold: x}\n"
    )
    params = load_config(str(path)).stages[0].resolved
    assert params["model"] == str(tmp_path / "models" / "q.npz")
    assert list(params["extra_files"]) == [str(tmp_path / "a.txt"), "/abs/b.txt"]
    assert params["threshold"] == "x"


def test_memory_budget_validated_and_overridden_per_stage():
    with pytest.raises(ConfigError, match=r"execution.memory_budget_mb: Input should be greater than or equal to 256"):
        validate_config(_raw(execution={"memory_budget_mb": 100}))
    cfg = validate_config(
        _raw(execution={"memory_budget_mb": 512}, stages=[{"exact_dedup": {"memory_budget_mb": 300}}])
    )
    assert cfg.execution.memory_budget_mb == 512
    assert cfg.stages[0].build().memory_budget_mb == 300
    with pytest.raises(ConfigError, match=r"stages\[0\].exact_dedup.memory_budget_mb: Input should be greater than 0"):
        validate_config(_raw(stages=[{"exact_dedup": {"memory_budget_mb": 0}}]))
