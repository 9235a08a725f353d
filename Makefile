# mlcalc: `make demo` and `make test` set up .venv (idempotent) and then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned in constraints.txt to the CPU build (2.13.0); a local wheel folder is used when present.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
# test processes (pytest-xdist, whole files per process): one per core of the 2-core CI machine
TEST_WORKERS ?= 2
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(FIND_LINKS) -c constraints.txt

.PHONY: setup demo test test-all bench docs docs-screenshots tutorial-figures clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mlcalc demo --out demo-output

# the 15 slowest tests are listed at the end, so a CI log shows where the suite's time goes
test: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# every test, including those marked slow (`pytest -m slow --collect-only` lists them): the shipped models' 1-ps NVE,
# the kill tests of transfer studies and searches, parallel ensemble members, a local Ray search, UMAP of transfer frames
test-all: setup
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile -m "slow or not slow"

bench: setup
	$(BIN)/python bench/bench_calculator.py

# the documentation site, strict (a warning fails the build): open site/index.html
# (NO_MKDOCS_2_WARNING: Material's banner about MkDocs 2, printed on every build, see docs/ARCHITECTURE.md)
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

# the built site as headless Chromium draws it (every image drawn), screenshots kept in docs/figures/
docs-screenshots: docs
	$(BIN)/python -c 'from mlcalc.analysis.report_check import browser_check; \
	  [print(page, browser_check(page, screenshot=shot, height=1400)["broken"] or "every image drawn") for page, shot in \
	   (("site/index.html", "docs/figures/site-home.png"), \
	    ("site/tutorials/01_shipped_model.html", "docs/figures/site-tutorial-01.png"))]'

# the tutorials at their reduced size (as tests/test_tutorials.py runs them); their figures copied for the site
tutorial-figures: setup
	for script in docs/tutorials/scripts/[0-9][0-9]_*.py; do \
	  name=$$(basename $$script .py); \
	  $(BIN)/python $$script --small --out build/tutorials/$$name || exit 1; \
	  cp build/tutorials/$$name/[0-9][0-9]_*.png docs/tutorials/figures/; \
	done

clean:
	rm -rf $(VENV) demo-output .pytest_cache site build/docs-src
