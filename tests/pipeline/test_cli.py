import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import cli
from stages.base import STAGES
from stages.testing import builtin_stages


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_has_help_a_description_and_a_place_in_the_readme(repo_dir: Path):
    readme = (repo_dir / "README.md").read_text(encoding="utf-8")
    subs = _subcommands()
    assert set(subs) == set(cli.COMMANDS)
    for name, parser in subs.items():
        assert parser.description, f"`jingxuan {name}` has no description"
        for action in parser._actions:
            if action.dest != "help":
                assert action.help, f"`jingxuan {name}` option {action.dest} has no help"
        assert f"jingxuan {name}" in readme, f"README does not mention `jingxuan {name}`"


BUILTIN = builtin_stages()


@pytest.mark.parametrize("name", BUILTIN)
def test_every_built_in_stage_documents_itself_and_each_parameter(name):
    cls = STAGES.get(name)
    doc = cls.__doc__ or ""
    assert len(doc.strip()) > 40, f"{name}: no docstring"
    for param, field in cls.model_fields.items():
        assert field.description or param in doc or param == "mode", f"{name}.{param} is not documented"
    assert name in cli.stage_doc(cls)


def test_stages_command_lists_parameters_and_defaults(capsys):
    assert cli.main(["stages"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^lang_filter\s+filter\s+v\d+\s+mode='filter', languages=\['zh'\]", out, re.M)
    assert cli.main(["stages", "--doc", "normalize"]) == 0
    assert "redact_pii: bool = True" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "no/such/config.yaml"], "no/such/config.yaml: no such config file"),
        (["stages", "--doc", "no_such_stage"], "unknown stage 'no_such_stage'"),
        (["stats", "no/such/run"], "no/such/run"),
    ],
)
def test_user_errors_print_one_line_without_a_traceback(argv, message):
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", *argv], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_dry_run_lists_inputs_and_runs_nothing(repo_dir: Path, tmp_path: Path, capsys):
    out_dir = tmp_path / "run"
    assert cli.main(["run", str(repo_dir / "configs" / "sample.yaml"), "--output", str(out_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "config ok: sample" in out and "gbk/legacy_forum.jsonl" in out and "gb18030" in out
    assert re.search(r"\d+ files, [\d.]+ MB, ~\d+ documents", out)
    assert not out_dir.exists()


def test_output_option_with_the_output_shorthand(repo_dir: Path, tmp_path: Path, capsys):
    config = tmp_path / "short.yaml"
    config.write_text(f"input: {repo_dir}/sample_data/news.jsonl\noutput: somewhere\nstages: [normalize]\n")
    assert cli.main(["run", str(config), "--output", str(tmp_path / "run"), "--dry-run"]) == 0
    assert f"output {tmp_path / 'run'}" in capsys.readouterr().out


def _readme_blocks(repo_dir: Path, lang: str) -> list[str]:
    text = (repo_dir / "README.md").read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_scaffolded_stage_passes_its_own_test(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["new-stage", "short_doc_filter", "--package", "my_filters"]) == 0
    assert subprocess.run([sys.executable, "-m", "pytest", "-q", "tests"], cwd=tmp_path).returncode == 0
    from pipeline.scaffold import new_stage

    with pytest.raises(FileExistsError):
        new_stage("short_doc_filter", package="my_filters")


def test_guide_new_stage_example_end_to_end(tmp_path: Path, monkeypatch, repo_dir: Path):
    """The README's example stage, YAML and test: written out, tested, run by short name, and its drop
    reason found in stats.json, the ledger and report.html."""
    stage_code = next(b for b in _readme_blocks(repo_dir, "python") if b.startswith("# my_filters/"))
    test_code = next(b for b in _readme_blocks(repo_dir, "python") if "def test_" in b)
    yaml_block = next(b for b in _readme_blocks(repo_dir, "yaml") if b.startswith("plugins:"))
    assert len(stage_code.strip().splitlines()) <= 20
    (tmp_path / "my_filters").mkdir()
    (tmp_path / "my_filters" / "__init__.py").write_text("")
    (tmp_path / "my_filters" / "short_line_filter.py").write_text(stage_code, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "test_short_line_filter.py").write_text(test_code, encoding="utf-8")
    assert subprocess.run([sys.executable, "-m", "pytest", "-q", "tests"], cwd=tmp_path).returncode == 0

    menu = "首页\n新闻\n体育\n娱乐\n联系我们"
    prose = "这是一段足够长的正文，讲的是一件完整的事情。\n第二段也同样完整，而且不短。"
    (tmp_path / "in.jsonl").write_text(
        "\n".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) for i, t in enumerate([menu, prose]))
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "run.yaml").write_text(
        yaml_block + "input: {paths: [in.jsonl]}\noutput: {dir: out}\nexecution: {engine: local, workers: 2}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "run.yaml", "--quiet"]) == 0
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["stages"]["short_line_filter"]["reasons"] == {"short_lines": 1}
    import pyarrow.parquet as pq

    ledger = pq.read_table(tmp_path / "out" / "rejected").to_pylist()
    assert [(r["id"], r["stage"], r["reason"]) for r in ledger] == [("d0", "short_line_filter", "short_lines")]
    report = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "short_line_filter" in report and "short_lines" in report


def test_run_of_a_finished_config_says_nothing_to_do_without_starting_an_engine(tmp_path: Path, capsys):
    (tmp_path / "docs.jsonl").write_text('{"text": "一篇足够长的中文文档，用来检查重复运行。"}\n', encoding="utf-8")
    (tmp_path / "run.yaml").write_text(
        "input: {paths: [docs.jsonl]}\noutput: {dir: out}\nstages: [normalize]\nexecution: {engine: local}\n"
    )
    assert cli.main(["run", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["run", str(tmp_path / "run.yaml"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "nothing to do" in err and "docs in 1" in out
