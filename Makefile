# Two commands do all the set-up on a fresh machine:
#   make quickstart   create .venv, install pet_seg, run the quickstart sweep, write its report
#   make test         create .venv, install pet_seg with dev tools, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: quickstart test lint bench gpu-check clean-outputs docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

quickstart: $(VENV)/.installed
	WANDB_MODE=$${WANDB_MODE:-offline} $(PY) -m pet_seg.run -m experiment=quickstart

test: $(VENV)/.installed
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(VENV)/.installed
	$(PY) scripts/bench.py

# Everything the GPU has to prove, in one command (<= 8 min on one H100/H200-class GPU):
# outputs/gpu_check/<time>/gpu_check.{md,json}; exits non-zero if a check fails.
gpu-check: $(VENV)/.installed
	$(PY) scripts/gpu_check.py

# The documentation site (mkdocs.yml, docs/*.md) into site/, in strict mode: a broken link, a
# missing anchor or a page outside the nav fails the build.
docs: $(VENV)/.installed
	$(VENV)/bin/mkdocs build --strict --site-dir site
