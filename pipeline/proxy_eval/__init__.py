"""Evidence for a curriculum: train a small byte-level language model on a run's curated documents in
curriculum order, shuffled and reversed (same documents, tokens and seeds) and compare held-out loss.

Only `model` and `train` import torch (the optional `jingxuan[eval]` extra), and only when called, so the
base pipeline and the report never need it.
"""

from pipeline.proxy_eval.corpus import ORDERS, ProxyEvalError
from pipeline.proxy_eval.harness import EvalSettings, run_curriculum_eval
from pipeline.proxy_eval.results import RESULT_JSON, RESULT_SVG, text_table, verdict
from pipeline.proxy_eval.train import ModelSettings

__all__ = [
    "ORDERS",
    "RESULT_JSON",
    "RESULT_SVG",
    "EvalSettings",
    "ModelSettings",
    "ProxyEvalError",
    "run_curriculum_eval",
    "text_table",
    "verdict",
]
