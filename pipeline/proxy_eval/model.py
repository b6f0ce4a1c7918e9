"""A small byte-level causal transformer: the proxy model. torch is imported here only, and lazily by callers.

Bytes, not characters: a vocabulary of 256 needs no vocabulary built from the data (which would be one more
place for held-out text to leak in) and no unknown token; a Chinese character is three bytes.
"""

from __future__ import annotations

import os

from pipeline.proxy_eval.corpus import ProxyEvalError

MISSING_TORCH = "jingxuan curriculum-eval needs torch: pip install 'jingxuan[eval]' (CPU build: torch==2.13.0)"


def require_torch():
    try:
        import torch
    except ImportError:
        raise ProxyEvalError(MISSING_TORCH) from None
    return torch


def pick_device(name: str) -> str:
    torch = require_torch()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ProxyEvalError("--device cuda: no CUDA device is available to torch")
    return name


def make_deterministic(seed: int, threads: int, device: str) -> None:
    """Same seed, thread count and device -> same numbers (CPU kernels vary with the thread count)."""
    torch = require_torch()
    if device.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)


def byte_lm(d_model: int, layers: int, heads: int, context: int):
    """Token and position embeddings, pre-norm transformer layers with a causal mask, tied output head."""
    torch = require_torch()
    nn = torch.nn

    class ByteLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(256, d_model)
            self.pos = nn.Embedding(context, d_model)
            layer = nn.TransformerEncoderLayer(
                d_model, heads, 4 * d_model, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(d_model)
            for emb in (self.tok, self.pos):  # GPT-2's 0.02: unit-variance embeddings tied to the head start at
                nn.init.normal_(emb.weight, std=0.02)  # ~40 nats/byte instead of ln(256) = 5.5
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(context), persistent=False)

        def forward(self, x):
            n = x.shape[1]
            h = self.tok(x) + self.pos.weight[:n]
            h = self.blocks(h, mask=self.mask[:n, :n], is_causal=True)
            return self.norm(h) @ self.tok.weight.T

    return ByteLM()


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())
