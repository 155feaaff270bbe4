# Hanzo Edge. Quick start: `make run`, then `make test`.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed

COMPILED := build/compiled/stamp.json
# The compiled tree (scripts/build_compiled.py) is a full copy of src/, so any .py edit makes it stale.
SOURCES  := $(shell find src -name '*.py' -not -path '*/__pycache__/*')

.PHONY: install run test test-compiled compiled check bench clean sysdeps

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) compiled

# The hot path compiled by mypyc into build/compiled/src (never next to the sources); rebuilt only when a .py
# changed. Without a C compiler or Python headers it says so and everything runs as pure Python.
$(COMPILED): $(STAMP) $(SOURCES) scripts/build_compiled.py
	$(PY) scripts/build_compiled.py

compiled: $(COMPILED)

# The main job: the bundled whoami backend plus `ingress` on examples/quickstart. It runs the compiled tree when
# `make install` (or `make compiled`) left a fresh one, unless PURE=1; it never compiles, so a fresh clone starts fast.
run: $(STAMP)
	@if [ "$${PURE:-0}" != 1 ] && [ -f $(COMPILED) ] && [ -z "$$(find src -name '*.py' -newer $(COMPILED) -print -quit)" ]; then \
	  echo "run: the compiled hot path (build/compiled/src; PURE=1 for pure Python)"; \
	  PYTHONPATH=build/compiled/src $(PY) -m hanzo_edge.demo.quickstart; \
	else $(PY) -m hanzo_edge.demo.quickstart; fi

# System packages the tests need (installed with apt only when missing).
sysdeps:
	@bash scripts/sysdeps.sh

test: $(STAMP) sysdeps
	$(PY) -m pytest -q -p no:cacheprovider
	$(MAKE) --no-print-directory test-compiled

# The same tests of the hot path against the compiled tree (tests/unit/test_compiled_build.py proves it is compiled).
test-compiled: compiled
	@if [ -f $(COMPILED) ]; then \
	  PYTHONPATH=build/compiled/src HANZO_EDGE_COMPILED_TREE=1 \
	    $(PY) -m pytest -q -p no:cacheprovider tests/unit tests/protocol tests/property; \
	else echo "test-compiled: no compiled tree on this machine (see above): only the pure-Python run counts"; fi

check: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks fuzz
	$(VENV)/bin/ruff format --check src tests benchmarks fuzz
	$(VENV)/bin/mypy --strict

bench: $(STAMP) compiled
	$(PY) benchmarks/proxy_bench.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
