# Two commands for a newcomer:  make workbook  (environment, data, every notebook)  and  make test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.brainlib-installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
SOLUTIONS := $(sort $(wildcard notebooks/solutions/[0-9][0-9]_*_solutions.ipynb))

.PHONY: env data test unit quick nbtest lint format constraints workbook clean-cache colab browser-test readme

env: $(STAMP)

# Bootstraps a local virtual environment when it is missing (or when the dependencies changed), with the exact
# versions of constraints.txt (what the committed results were produced with).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# Rewrites constraints.txt from the current environment (after an intended upgrade).
constraints: $(STAMP)
	{ head -3 constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' \
	  | sed -E 's|^([A-Za-z0-9_.-]+) @ file:.*/[A-Za-z0-9_.]+-([0-9][^-]*)-.*|\1==\2|'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# Gets the three datasets unless they are already there ($$BRAINLIB_DATA_DIR or data/brain-tumor-mri,
# $$BRAINLIB_FIGSHARE_DIR or data/figshare-cheng, $$BRAINLIB_TCGA_DIR or data/tcga-lgg).
data: $(STAMP)
	$(BIN)/brainlib fetch
	$(BIN)/brainlib fetch --dataset figshare-cheng
	$(BIN)/brainlib fetch --dataset tcga-lgg

test: lint unit nbtest

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests

# The unit tests without the ones marked slow (subprocesses, worker pools, real-data checks): the edit-test loop.
quick: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" tests

# Notebooks in the smoke profile (tiny subset, 1 epoch, same code path), outputs compared loosely.
# Without the dataset they run on a small SYNTHETIC phantom set instead (offline smoke run).
nbtest: $(STAMP)
	@if [ -n "$(NOTEBOOKS)" ]; then \
	  if ! $(BIN)/python -c "from brainlib import config, data; data.validate_layout(config.data_dir())" 2>/dev/null; then \
	    echo "dataset not found: running the notebooks on SYNTHETIC phantom data"; \
	    $(BIN)/python -m brainlib.synthetic data/synthetic; \
	    export BRAINLIB_DATA_DIR="$(CURDIR)/data/synthetic"; \
	  fi; \
	  for ds in figshare-cheng tcga-lgg; do \
	    if ! $(BIN)/python -c "import sys; from brainlib import datasets; datasets.get(sys.argv[1]).table()" $$ds 2>/dev/null; then \
	      echo "$$ds not found: running notebook 06 on a SYNTHETIC stand-in"; \
	      rm -rf "data/synthetic-$$ds"; $(BIN)/python -m brainlib.synthetic "data/synthetic-$$ds" --dataset $$ds; \
	      if [ $$ds = figshare-cheng ]; then export BRAINLIB_FIGSHARE_DIR="$(CURDIR)/data/synthetic-$$ds"; \
	      else export BRAINLIB_TCGA_DIR="$(CURDIR)/data/synthetic-$$ds"; fi; \
	    fi; \
	  done; \
	  BRAINLIB_PROFILE=smoke $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env $(NOTEBOOKS) $(SOLUTIONS); \
	fi

# The README's result tables rendered from results/ (a test fails when they disagree).
readme: $(STAMP)
	$(BIN)/python -m brainlib.readme

# ruff's linter and its formatter (check only: `make format` rewrites); also run by pre-commit.
lint: $(STAMP)
	$(BIN)/ruff check brainlib tests benchmarks
	$(BIN)/ruff format --check brainlib tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix brainlib tests benchmarks
	$(BIN)/ruff format brainlib tests benchmarks

# Executes every notebook top to bottom in place (full profile), after making sure env and data exist.
# Every cached run (results/runs/, the shipped checkpoints of the recipes) is reused; FORCE=1 retrains them all.
workbook: data
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  BRAINLIB_FORCE_RERUN="$(FORCE)" $(BIN)/papermill --cwd notebooks -k python3 "$$nb" "$$nb" || exit 1; \
	done
	@for nb in $(SOLUTIONS); do \
	  echo "== $$nb"; \
	  $(BIN)/papermill --cwd notebooks/solutions -k python3 "$$nb" "$$nb" || exit 1; \
	done

clean-cache:
	rm -rf data/cache

# JupyterLab in headless Chromium (tests/browser, smoke profile): 05 run in full and its Grad-CAM slider moved, the
# first three code cells of every numbered notebook run. Not part of make test; installs Debian's chromium and the
# playwright package (no browser download: the system Chromium is used) when they are missing.
browser-test: $(STAMP)
	@test -x /usr/bin/chromium || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); $$SUDO apt-get update && $$SUDO apt-get install -y chromium chromium-driver; }; $(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install -c constraints.txt "playwright>=1.40"
	BRAINLIB_BROWSER_TEST=1 $(BIN)/python -m pytest -q tests/browser

# "Open in Colab" badges and a Colab-only set-up cell in every notebook, for the repository's GitHub address:
#   make colab REPO=owner/name   (then commit the notebooks)
colab: $(STAMP)
	@test -n "$(REPO)" || { echo "usage: make colab REPO=owner/name"; exit 2; }
	$(BIN)/python -m brainlib.colab "$(REPO)"
