# The README names two targets: `make demo` and `make test`. Both work on a fresh machine: they make a
# virtual environment in .venv and install sipsniff into it (and, for the tests, the test tools and,
# when run as root, the Debian packages the tests use as oracles and peers).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck tools bench scenarios verdicts clean

$(STAMP): pyproject.toml sipsniff/sip/_fastsip.c sipsniff/correlate/_fastcorr.c \
		sipsniff/correlate/_idmap.c sipsniff/render/_fasttext.c sipsniff/analysis/_faststats.c \
		sipsniff/pipeline/_fastinbox.c sipsniff/net/_fastnet.c
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sipsniff read captures/register-407.pcap

# What the tests compare with or drive, installed only as root and only when missing: Debian's tshark,
# tcpdump, sipp, sngrep, libpcap (the live capture's pcap backend, and its filter compiler), chromium (+ chromedriver) for the HTML page, plantuml; mermaid-cli from npm;
# the real peers the labelled scenarios are recorded with (captures/scenarios/README.md): Kamailio,
# baresip, linphone, SIPVicious, and nftables / iptables / iproute2 for their network namespaces;
# tmux, in which a test runs the browser as a person would; PostgreSQL and Kamailio's PostgreSQL
# module for a HOMER capture node (PKGS).
DEBS := tshark:tshark tcpdump:tcpdump sipp:sip-tester sngrep:sngrep chromium:chromium \
	chromedriver:chromium-driver plantuml:plantuml npm:npm kamailio:kamailio \
	baresip:baresip-core linphonec:linphone-cli svcrack:sipvicious nft:nftables \
	iptables:iptables ip:iproute2 tmux:tmux
# Packages with no command of their own to look for: a HOMER capture node for tests/test_homer.py
# (PostgreSQL's server, and Kamailio's sipcapture storing into it through db_postgres).
PKGS := postgresql kamailio-postgres-modules
tools:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; \
	  for p in $(DEBS); do command -v $${p%%:*} >/dev/null || missing="$$missing $${p#*:}"; done; \
	  for p in $(PKGS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	  done; \
	  ldconfig -p | grep -q 'libpcap\.so' || missing="$$missing libpcap0.8"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  fi; \
	  if ! command -v mmdc >/dev/null; then \
	    echo "installing @mermaid-js/mermaid-cli (npm)"; \
	    PUPPETEER_SKIP_DOWNLOAD=1 npm install -g --silent @mermaid-js/mermaid-cli >/dev/null; \
	  fi; \
	else echo "not root: tests that need tshark, sipp, chromium... are skipped unless installed"; fi

test: $(STAMP) tools
	$(BIN)/ruff check sipsniff tests benchmarks docs
	$(BIN)/ruff format --check sipsniff tests benchmarks docs
	$(BIN)/mypy
	$(BIN)/pytest -q -rs $(PARALLEL)
	@echo "again in Python alone (no C fast path): the oracle, golden and correlator tests"
	SIPSNIFF_PURE_PYTHON=1 $(BIN)/pytest -q -rs $(PARALLEL) $(PURE_TESTS)

# On every core; the modules that use loopback, chromium or tmux one after another
# (tests/conftest.py: SERIAL_MODULES).
PARALLEL := -n auto --dist loadgroup

# What runs twice, with and without the C fast paths (net/_fastnet.c, sip/_fastsip.c,
# correlate/_fastcorr.c, render/_fasttext.c, analysis/_faststats.c, pipeline/_fastinbox.c): the
# results must be the same on both paths (tshark's oracle and its sip,stat, the goldens, the
# RFC 4475 table, the correlator's own tests, the labelled scenarios, the two-process reader).
PURE_TESTS := tests/test_oracle.py tests/sip tests/correlate tests/render/test_terminal.py \
	tests/analysis/test_stats.py \
	tests/test_scenarios.py tests/pipeline tests/browse/test_loader.py tests/capture/test_filed.py

lint: $(STAMP)
	$(BIN)/ruff check sipsniff tests benchmarks docs
	$(BIN)/ruff format --check sipsniff tests benchmarks docs

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP) tools
	$(BIN)/python benchmarks/read_bench.py

# Record every labelled scenario again from the real peers (as root), into captures/scenarios/.
scenarios: $(STAMP) tools
	$(BIN)/python -m tests.scenarios.record

# Precision and recall of every detector on the labelled scenarios (docs/findings.md).
verdicts: $(STAMP)
	$(BIN)/python benchmarks/verdicts.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
