# The two commands of the README. Each creates .venv if needed and installs
# what it needs first, so they work on a fresh clone with nothing installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A bare `torch` requirement resolves to a multi-GB CUDA build on Linux; this
# pin takes the CPU wheel available locally on our machines (and a normal
# wheel elsewhere). pyproject.toml itself only asks for torch>=2.1.
TORCH ?= torch==2.13.0

.PHONY: demo test lint docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[$*]"
	touch $@

demo: $(VENV)/.installed-docs
	$(BIN)/python -m sklearn_audioconcepts demo

test: $(VENV)/.installed-test,docs
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2
	$(MAKE) docs

docs: $(VENV)/.installed-test,docs
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/generated
