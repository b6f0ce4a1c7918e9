"""Evidence for a curriculum: train a small byte-level language model on a run's curated documents in
curriculum order, shuffled and reversed (same documents, bytes and seeds) and compare held-out loss.

Modules: `corpus` (held-out split, training sample and orders; no torch), `model` and `train` (torch, the
optional `jingxuan[eval]` extra, imported only when called), `harness` (the command's work), `results`
(summaries over seeds and the verdict; no torch). This file imports nothing, so the report can read
`results` without pulling in the trainer.
"""
