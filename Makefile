# Hanzo Edge. Quick start: `make run`, then `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

.PHONY: install run test check bench clean sysdeps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: the bundled whoami backend plus `ingress` on examples/quickstart.
run: $(STAMP)
	$(PY) -m hanzo_edge.demo.quickstart

# System packages the tests need (installed with apt only when missing).
sysdeps:
	@bash scripts/sysdeps.sh

test: $(STAMP) sysdeps
	$(PY) -m pytest -q -p no:cacheprovider

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks fuzz
	$(VENV)/bin/ruff format --check src tests benchmarks fuzz
	$(VENV)/bin/mypy --strict

bench: $(STAMP)
	$(PY) benchmarks/proxy_bench.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
