# mlcalc: `make demo` and `make test` set up .venv (idempotent) and then run.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned in constraints.txt to the CPU build (2.13.0); a local wheel folder is used when present.
FIND_LINKS := $(if $(wildcard /opt/wheels),--find-links /opt/wheels,)
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check $(FIND_LINKS) -c constraints.txt

.PHONY: setup demo test test-all bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) "torch==2.13.0"
	$(PIP) -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/mlcalc demo --out demo-output

test: setup
	$(BIN)/python -m pytest -q

# every test, including any marked slow (none at present: the whole suite runs in `make test`)
test-all: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup
	$(BIN)/python bench/bench_calculator.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache
