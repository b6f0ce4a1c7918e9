"""The dataset card: `data/README.md` with Hugging Face YAML metadata, so `data/` can be pushed to the Hub as it
is (`huggingface_hub.upload_folder`, or `load_from_disk(...).push_to_hub` after copying the card).

Everything in it follows from the run's inputs, config and counts (no paths, times or hosts), so the same input
and config give the same card, like the same data files.
"""

from __future__ import annotations

import os
from collections import Counter
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc
import yaml

from pipeline.config import PATH_KEYS
from stages.core.shards import read_shard, shard_schema

if TYPE_CHECKING:
    from pipeline.config import RunConfig
    from pipeline.io.files import InputFile
    from stages.core.stats import RunStats

CARD_NAME = "README.md"
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
_SIZES += ((10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))


def size_category(n: int) -> str:
    """The Hub's `size_categories` bin of `n` documents."""
    return next((label for bound, label in _SIZES if n < bound), "n>1B")


def languages(shards: list[str]) -> Counter:
    """Documents per `_lang` value in the output shards (empty without a langid stage)."""
    out: Counter = Counter()
    for s in shards:
        if "_lang" not in shard_schema(s).names:
            continue
        for b in read_shard(s, ["_lang"]):
            vc = pc.value_counts(b.column("_lang"))
            out.update({v.as_py(): c.as_py() for v, c in zip(vc.field("values"), vc.field("counts"), strict=True)})
    out.pop(None, None)
    return out


def dataset_card(cfg: RunConfig, stats: RunStats, inputs: list[InputFile], shards: list[str]) -> str:
    """Markdown with YAML front matter: languages, size, sources, the recipe (stages and their parameters)
    and the funnel (documents in, kept and dropped per stage, with reasons)."""
    langs = sorted(languages(shards).items(), key=lambda kv: (-kv[1], kv[0]))
    n = stats.docs_out
    chars = list(stats.stages.values())[-1].chars_out if stats.stages else 0
    synthetic = sorted({f.synthetic["name"] for f in inputs if f.synthetic})
    meta: dict[str, Any] = {"language": [lang for lang, _ in langs]} if langs else {}  # unknown without langid
    meta |= {
        "pretty_name": cfg.name,
        "size_categories": [size_category(n)],
        "task_categories": ["text-generation"],
        "tags": ["jingxuan", "curated", *(["synthetic"] if synthetic else [])],
    }
    lines = ["---", yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).rstrip(), "---", ""]
    lines += [f"# {cfg.name}", ""]
    lines += [
        f"Curated with jingxuan {_version()}: {n:,} documents, "
        f"{chars:,} characters, from {stats.docs_in:,} input documents ({stats.docs_rejected:,} dropped, each with "
        "its stage and reason in the run's `rejected/` ledger). Open it with `datasets.load_from_disk`.",
        "",
        "## Languages",
        "",
    ]
    if langs:
        lines += ["| language | documents | share |", "|---|---:|---:|"]
        lines += [f"| {k} | {v:,} | {v / max(n, 1):.1%} |" for k, v in langs]
    else:
        lines.append("No language-identification stage ran.")
    lines += ["", "## Sources", "", "| source | format | bytes |", "|---|---|---:|"]
    lines += [f"| {f.source} | {f.format}{'+' + f.compression if f.compression else ''} | {f.size:,} |" for f in inputs]
    if synthetic:
        lines += [
            "",
            f"Synthetic sources: {', '.join(synthetic)} (rows carry `_source=synthetic` and `_gen_*` provenance).",
        ]
    recipe = [{s.name: _portable(s.resolved, cfg.base_dir)} for s in cfg.stages]
    lines += [
        "",
        "## Curation recipe",
        "",
        "```yaml",
        yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False).rstrip(),
        "```",
    ]
    lines += ["", "## Funnel", "", "| stage | in | kept | dropped | reasons |", "|---|---:|---:|---:|---|"]
    for key, st in stats.stages.items():
        reasons = ", ".join(f"{r} {c:,}" for r, c in sorted(st.reasons.items(), key=lambda kv: (-kv[1], kv[0])))
        lines.append(f"| {key} | {st.docs_in:,} | {st.docs_out:,} | {st.docs_rejected:,} | {reasons} |")
    return "\n".join(lines) + "\n"


def appended_card(versions: list[tuple[str, int, str | None]]) -> str:
    """The card of `output.mode: append`'s combined `data/`, from (version folder, documents, that version's
    card or None) per version: their languages in order of first appearance, the size of all of them, and a
    table that points at each version's own card (sources, recipe, funnel), which this one does not repeat."""
    metas = [_front_matter(card) for _, _, card in versions if card]
    n = sum(docs for _, docs, _ in versions)
    langs = list(dict.fromkeys(lang for m in metas for lang in m.get("language", [])))
    name = metas[-1].get("pretty_name", "jingxuan") if metas else "jingxuan"
    meta: dict[str, Any] = {"language": langs} if langs else {}
    meta |= {
        "pretty_name": name,
        "size_categories": [size_category(n)],
        "task_categories": ["text-generation"],
        "tags": list(dict.fromkeys(["jingxuan", "curated", *(t for m in metas for t in m.get("tags", []))])),
    }
    lines = ["---", yaml.safe_dump(meta, allow_unicode=True, sort_keys=False).rstrip(), "---", ""]
    lines += [
        f"# {name}",
        "",
        f"{n:,} documents appended from {len(versions)} versions, earlier versions first, each curated by "
        f"jingxuan {_version()} and never rewritten. Open it with `datasets.load_from_disk`.",
        "",
        "| version | documents | card |",
        "|---|---:|---|",
    ]
    for folder, docs, card in versions:
        link = f"[{folder}/data/{CARD_NAME}](../{folder}/data/{CARD_NAME})" if card else "(written before cards)"
        lines.append(f"| {folder} | {docs:,} | {link} |")
    return "\n".join(lines) + "\n"


def _front_matter(card: str) -> dict[str, Any]:
    parts = card.split("---\n", 2)
    return (yaml.safe_load(parts[1]) or {}) if card.startswith("---\n") and len(parts) == 3 else {}


def _portable(params: Any, base_dir: str) -> Any:
    """Parameters with local file paths relative to the config's folder, as a recipe is written."""
    if isinstance(params, dict):
        return {k: _relative(v, base_dir) if k in PATH_KEYS else _portable(v, base_dir) for k, v in params.items()}
    if isinstance(params, list):
        return [_portable(v, base_dir) for v in params]
    return params


def _relative(value: Any, base_dir: str) -> Any:
    if isinstance(value, list):
        return [_relative(v, base_dir) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return os.path.relpath(value, os.path.abspath(base_dir))
    return value


def _version() -> str:
    try:
        return metadata.version("jingxuan")
    except metadata.PackageNotFoundError:
        return "unknown"
