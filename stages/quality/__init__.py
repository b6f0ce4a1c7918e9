"""Chinese quality filtering: heuristic signals with published defaults, blocklists, a trainable classifier.

One module per signal family; each filter records numeric `_` signal columns in `annotate()` (so `mode:
annotate` shows distributions before thresholds are chosen) and a reason code for each drop. Defaults and
their sources are in each class docstring and in docs/zh_web.md.
"""
