"""Optional generators that produce synthetic documents from seed documents of the corpus.

Nothing here runs unless a user calls it: the default recipe never generates, and no generator downloads
anything. A generator turns seed documents into new documents with provenance; `generate_synthetic` writes
them as JSONL with the fields the run config's `synthetic:` section reads (`generator`, `prompt_id`,
`seed_id`, `params`), so generated data enters a run like any other synthetic source.

Users plug in their own class as `my_pkg.gen:MyGenerator` (a `Generator` subclass) or register it by name
with `register_generator`. `OpenAICompatibleGenerator` POSTs to the chat/completions endpoint of a server the
user runs (vLLM, llama.cpp server, TGI, ...) using only the standard library.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

from stages.core.atomic import atomic_path
from stages.core.registry import Registry


class Generator:
    """Base class: `generate(seed_docs)` yields dicts with `text` and provenance for each new document."""

    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            register_generator(cls)

    def generate(self, seed_docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """For seed documents ({id, text, ...}), yield {text, generator, prompt_id, seed_id, params}."""
        raise NotImplementedError


GENERATORS: Registry[type[Generator]] = Registry(Generator, "generator")
register_generator = GENERATORS.register
get_generator = GENERATORS.get


PROMPTS = {
    "rephrase_v1": "请用流畅、规范的简体中文改写下面的文字，保留全部事实，不要添加新信息。\n\n{text}",
    "textbook_v1": "请根据下面的材料，写一段教科书风格的讲解，条理清楚，适合中学生阅读。\n\n{text}",
    "qa_v1": "请根据下面的材料提出一个问题并给出详细解答，格式为“问：……\n答：……”。\n\n{text}",
}


class OpenAICompatibleGenerator(Generator):
    """Calls `POST {base_url}/chat/completions` of an OpenAI-compatible server the user runs.

    The prompt template is one of `PROMPTS` (its key is the `prompt_id`) or a custom string with `{text}`.
    The API key is read from the environment variable named by `api_key_env` (never stored in provenance).
    """

    name: ClassVar[str] = "openai_compatible"

    def __init__(
        self,
        base_url: str,
        model: str,
        prompt_id: str = "rephrase_v1",
        template: str | None = None,
        temperature: float = 0.7,
        max_tokens: int = 1024,
        timeout: float = 120.0,
        api_key_env: str | None = "OPENAI_API_KEY",
        max_seed_chars: int = 4000,
    ):
        if template is None and prompt_id not in PROMPTS:
            raise ValueError(f"unknown prompt_id {prompt_id!r}; known: {', '.join(PROMPTS)} (or give template)")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.prompt_id = prompt_id
        self.template = template or PROMPTS[prompt_id]
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.api_key_env = api_key_env
        self.max_seed_chars = max_seed_chars

    def _post(self, prompt: str) -> str:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{self.base_url}/chat/completions: HTTP {e.code}: {e.read()[:200]!r}") from None
        except urllib.error.URLError as e:
            raise RuntimeError(f"{self.base_url}/chat/completions: {e.reason}") from None
        try:
            return payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise RuntimeError(f"{self.base_url}: unexpected response {str(payload)[:200]}") from None

    def generate(self, seed_docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        params = json.dumps(
            {"model": self.model, "temperature": self.temperature, "max_tokens": self.max_tokens}, sort_keys=True
        )
        for doc in seed_docs:
            text = self._post(self.template.format(text=doc["text"][: self.max_seed_chars]))
            if text and text.strip():
                yield {
                    "text": text.strip(),
                    "generator": f"{self.name}:{self.model}",
                    "prompt_id": self.prompt_id,
                    "seed_id": doc.get("id"),
                    "params": params,
                }


def generate_synthetic(generator: Generator, input_jsonl: str, output_jsonl: str, limit: int | None = None) -> dict:
    """Generate from the first `limit` seed documents of a JSONL file ({id, text}); write JSONL with provenance.

    Output rows: `id` (`syn-<seed_id>-<n>`), `text`, `generator`, `prompt_id`, `seed_id`, `params` - the
    fields a `synthetic:` source requires. Written to a temporary name and renamed when complete.
    Returns counts for printing.
    """

    def seeds() -> Iterator[dict[str, Any]]:
        with open(input_jsonl, encoding="utf-8") as f:
            n = 0
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                if limit is not None and n >= limit:
                    return
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{input_jsonl} line {i}: not valid JSON: {e}") from None
                if not isinstance(row.get("text"), str):
                    raise ValueError(f"{input_jsonl} line {i}: no text")
                row.setdefault("id", f"line{i}")
                n += 1
                yield row

    written = 0
    per_seed: dict[str, int] = {}
    with atomic_path(output_jsonl) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for row in generator.generate(seeds()):
            for key in ("text", "generator", "prompt_id"):
                if not row.get(key):
                    raise ValueError(f"generator {type(generator).__name__} produced a row without {key}")
            seed_id = str(row.get("seed_id"))
            k = per_seed[seed_id] = per_seed.get(seed_id, 0) + 1
            rec = {"id": row.get("id") or f"syn-{seed_id}-{k}", **{f: v for f, v in row.items() if f != "id"}}
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            written += 1
    return {"seeds": len(per_seed), "written": written, "output": output_jsonl}
