# Conveniences over the two commands in README.md; everything lives in .venv.
PY ?= python3
BIN := .venv/bin

.PHONY: setup sample test lint bench clean

$(BIN)/jingxuan: pyproject.toml
	$(PY) -m venv .venv
	$(BIN)/pip install -q -e '.[dev,eval]'
	touch $@

setup: $(BIN)/jingxuan

sample: setup
	$(BIN)/jingxuan run configs/sample.yaml

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

clean:
	rm -rf out .pytest_cache .ruff_cache
