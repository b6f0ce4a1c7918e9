"""The optional generator interface, against a tiny OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from stages.synthetic.generators import (
    Generator,
    OpenAICompatibleGenerator,
    generate_synthetic,
    get_generator,
)


class _Handler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        prompt = body["messages"][-1]["content"]
        seed_text = prompt.rsplit("\n\n", 1)[-1]
        reply = {"choices": [{"message": {"role": "assistant", "content": f"改写：{seed_text}"}}]}
        data = json.dumps(reply, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.requests = []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_openai_compatible_generate_synthetic(server, tmp_path, monkeypatch):
    monkeypatch.setenv("TEST_LLM_KEY", "secret")
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(
        "".join(
            json.dumps({"id": f"doc{i}", "text": f"第{i}篇文章的内容。"}, ensure_ascii=False) + "\n" for i in range(3)
        ),
        encoding="utf-8",
    )
    gen = OpenAICompatibleGenerator(base_url=server, model="qwen-test", api_key_env="TEST_LLM_KEY", temperature=0.2)
    out = tmp_path / "syn" / "out.jsonl"
    summary = generate_synthetic(gen, str(seeds), str(out), limit=2)
    assert summary == {"seeds": 2, "written": 2, "output": str(out)}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["syn-doc0-1", "syn-doc1-1"]
    assert rows[0]["text"] == "改写：第0篇文章的内容。"
    assert rows[0]["generator"] == "openai_compatible:qwen-test"
    assert rows[0]["prompt_id"] == "rephrase_v1" and rows[0]["seed_id"] == "doc0"
    assert json.loads(rows[0]["params"]) == {"max_tokens": 1024, "model": "qwen-test", "temperature": 0.2}
    assert len(_Handler.requests) == 2
    req = _Handler.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer secret"
    assert req["body"]["model"] == "qwen-test" and req["body"]["temperature"] == 0.2


def test_server_down_is_a_clear_error(tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "a", "text": "内容"}\n', encoding="utf-8")
    gen = OpenAICompatibleGenerator(base_url="http://127.0.0.1:9", model="m", timeout=2)
    with pytest.raises(RuntimeError, match=r"127\.0\.0\.1:9/chat/completions"):
        generate_synthetic(gen, str(seeds), str(tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.tmp").exists()


class Echo(Generator):
    name = "echo_test"

    def generate(self, seed_docs):
        for d in seed_docs:
            yield {"text": d["text"] * 2, "generator": "echo", "prompt_id": "double", "seed_id": d["id"]}


def test_registry_by_name_and_module_path():
    assert get_generator("echo_test") is Echo
    assert get_generator("openai_compatible") is OpenAICompatibleGenerator
    assert get_generator(f"{__name__}:Echo") is Echo
    with pytest.raises(KeyError, match="unknown generator"):
        get_generator("nope")


def test_custom_generator_missing_provenance(tmp_path):
    class Bad(Generator):
        def generate(self, seed_docs):
            for d in seed_docs:
                yield {"text": d["text"], "generator": "bad"}

    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"id": "a", "text": "内容"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="without prompt_id"):
        generate_synthetic(Bad(), str(seeds), str(tmp_path / "out.jsonl"))
    out = tmp_path / "ok.jsonl"
    generate_synthetic(Echo(), str(seeds), str(out))
    assert json.loads(out.read_text(encoding="utf-8")) == {
        "id": "syn-a-1",
        "text": "内容内容",
        "generator": "echo",
        "prompt_id": "double",
        "seed_id": "a",
    }
