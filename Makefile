# The two commands of the README. Each creates .venv if needed and installs
# what it needs first, so they work on a fresh clone with nothing installed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# laion-clap imports torchvision, and a torchvision wheel only imports beside
# the torch build it was compiled with, so the two are pinned as a pair and
# installed before the package (pyproject.toml itself only asks for
# torch>=2.1). On our machines pip takes this pair from local disk; with no
# torch at all, a bare `torch` requirement would pull the newest CUDA build.
# Any other matching pair works: `make test TORCH="torch==2.9.1 torchvision==0.24.1"`.
TORCH ?= torch==2.14.1 torchvision==0.29.1
# Debian packages: espeak-ng synthesises the speech the speaker tests and the
# demo run on (no recordings can be downloaded offline); chromium and
# chromium-driver run the HTML report's browser tests headless.
SYSTEM_PACKAGES := espeak-ng chromium chromium-driver
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint docs clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[$*]"
	touch $@

system-deps:
	@{ command -v espeak-ng && command -v chromium && command -v chromedriver; } \
		>/dev/null || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); }

demo: system-deps $(VENV)/.installed-speaker,docs,parquet
	$(BIN)/python -m sklearn_audioconcepts demo $(DEMO_ARGS)

test: system-deps $(VENV)/.installed-test,docs,clap,msclap,speaker,dask,parquet,vocab
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2
	$(MAKE) docs

docs: system-deps $(VENV)/.installed-test,docs,clap,msclap,speaker,dask,parquet,vocab
	$(BIN)/python -m sphinx -W --keep-going -b html docs docs/_build/html

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/generated
