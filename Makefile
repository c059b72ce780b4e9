# The two set-up commands are `make demo` and `make test`; both build .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The demo needs only castedge and a local S3 server, not the test toolchain.
DEMO_STAMP := $(VENV)/.demo-stamp

.PHONY: demo test lint format unit faults bench bench-suite bench-edge bench-locator bench-tls bench-token sysdeps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo,test]'
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
	touch $(DEMO_STAMP)

# ARGS for the demo's options: make demo ARGS='--data .demo --tls'
demo: $(DEMO_STAMP)
	$(BIN)/castedge demo $(ARGS)

sysdeps:
	scripts/install-sysdeps.sh test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: $(STAMP) sysdeps lint
	$(BIN)/pytest -n 2 --dist loadfile

unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The fault suite alone (make test runs it too): hostile clients and a misbehaving S3.
faults: $(STAMP) sysdeps
	$(BIN)/pytest tests/faults

# Each benchmark prints a table and exits 1 when castedge misses its target.
bench: $(STAMP)
	scripts/install-sysdeps.sh bench
	$(BIN)/python benchmarks/origin_vs_nginx.py

# The whole suite (python -m benchmarks): castedge beside nginx on every scenario, with
# tables, JSON and plots in benchmarks/results/. Options: make bench-suite BENCH_ARGS='--quick'.
bench-suite: $(STAMP)
	scripts/install-sysdeps.sh bench
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

bench-edge: $(STAMP)
	scripts/install-sysdeps.sh bench
	$(BIN)/python benchmarks/edge_seek.py

bench-locator: $(STAMP)
	scripts/install-sysdeps.sh bench
	$(BIN)/python benchmarks/locator.py

bench-tls: $(STAMP)
	scripts/install-sysdeps.sh bench
	$(BIN)/python benchmarks/tls_vs_nginx.py

bench-token: $(STAMP)
	$(BIN)/python -m benchmarks.bench_token

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
