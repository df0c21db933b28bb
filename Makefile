# The README names two targets: `make demo` and `make test`. Both work on a fresh machine: they make a
# virtual environment in .venv and install sipsniff into it (and, for the tests, the test tools and,
# when run as root, the Debian packages the tests use as oracles and peers).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck tools bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sipsniff read captures/register-407.pcap

# Debian packages the tests compare with or drive (tshark, tcpdump, sipp, sngrep); only as root.
tools:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; \
	  for p in tshark:tshark tcpdump:tcpdump sipp:sip-tester sngrep:sngrep; do \
	    command -v $${p%%:*} >/dev/null || missing="$$missing $${p#*:}"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	else echo "not root: tests that need tshark/tcpdump/sipp/sngrep are skipped unless installed"; fi

test: $(STAMP) tools
	$(BIN)/ruff check sipsniff tests benchmarks
	$(BIN)/ruff format --check sipsniff tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest -q -rs

lint: $(STAMP)
	$(BIN)/ruff check sipsniff tests benchmarks
	$(BIN)/ruff format --check sipsniff tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) tools
	$(BIN)/python benchmarks/read_bench.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
