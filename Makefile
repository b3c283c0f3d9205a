# Two commands do all the set-up on a fresh machine:
#   make quickstart   create .venv, install pet_seg, run the quickstart sweep, write its report
#   make test         create .venv, install pet_seg with dev tools, run the fast test tier
#   make test-all     the full suite (end-to-end sweeps, SLURM, PostgreSQL): what .ci/run runs
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: quickstart test test-all lint bench gpu-check clean-outputs docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

quickstart: $(VENV)/.installed
	WANDB_MODE=$${WANDB_MODE:-offline} $(PY) -m pet_seg.run -m experiment=quickstart

# The fast tier: unit and small end-to-end tests (slow and service-marked tests deselected).
test: $(VENV)/.installed
	$(PY) -m pytest -m "not slow and not service" --durations=10

# Everything, the slowest tests listed so that they stay visible.
test-all: $(VENV)/.installed
	$(PY) -m pytest --durations=30

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
