# Two commands for a new user: `make run` (train the default model on real data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup data run lint test test-all bench clean

setup: $(STAMP) data

# Reinstall only when the dependency declarations change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Real data offline: Debian/Ubuntu ship Fashion-MNIST as an apt package.
data:
	@sh scripts/ensure-fashion-mnist.sh

run: setup
	$(BIN)/cnnzoo train

# Seconds, so every test run starts with them; configuration in pyproject.toml.
lint: setup
	$(BIN)/ruff check src tests benchmarks scripts main.py
	$(BIN)/mypy src

test: setup lint
	$(BIN)/python -m pytest -n 2 -q

# Everything, including tests marked slow (compile, ImageNet-size models).
test-all: setup
	$(BIN)/python -m pytest -n 2 -q -m 'not gpu'

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
