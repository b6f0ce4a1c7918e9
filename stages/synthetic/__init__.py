"""Synthetic data: injection by ratio per curriculum phase (`stage.py`) and an optional generator interface
(`generators.py`)."""
