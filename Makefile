# Two commands on a fresh clone: `make demo` and `make test`. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow lint docs bench bench-digits bench-quality bench-discrete clean

$(STAMP): requirements-dev.txt pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e . $(addprefix -e ./,$(wildcard plugins/*))
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/scoregen demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "slow or not slow" --hypothesis-profile=ci

# Lint and type-check (the configuration is in pyproject.toml); CI runs both.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

# The documentation site in site/, warnings as errors (mkdocs.yml).
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --quiet

bench: $(STAMP)
	$(BIN)/python benchmarks/overhead.py

bench-quality: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/quality.py --seeds 0 1 2

bench-digits: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/digits.py --steps 3000 --eval-every 500 --out runs/bench-digits --docs docs/img

clean:
	rm -rf $(VENV) runs site .pytest_cache .hypothesis .mypy_cache .ruff_cache
