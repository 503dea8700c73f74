# Two commands for a fresh clone:
#   make run    install, then serve the hub over HTTP on 127.0.0.1:8765 (embedded SQLite in .hub/)
#   make test   install everything the tests need, then run the whole suite, ruff and mypy
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8765

.PHONY: run test install peers lint pytest bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Real MCP peers from npm (server-everything, server-memory, supergateway) and the official
# conformance suite with the Node 22 it needs.
peers:
	@if [ -f tests/peers/package-lock.json ]; then npm ci --silent --no-audit --no-fund --prefix tests/peers; fi
	sh tests/conformance/install.sh

run: install
	$(VENV)/bin/hub db upgrade
	$(VENV)/bin/hub serve --transport http --host $(HOST) --port $(PORT)

pytest: install peers
	$(VENV)/bin/pytest -q 

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check hub connectors
	$(VENV)/bin/mypy

test: pytest lint

bench: install peers
	$(PY) bench/proxy.py
	$(PY) bench/rules.py
	$(PY) bench/connectors.py

clean:
	rm -rf $(VENV) .hub .mypy_cache .ruff_cache
