# botmesh: `make run` sets everything up and runs the mesh; `make test` sets everything up and
# runs every check. Both work on a fresh machine with Python 3.11+ and Node.js (for buf).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BUF    := node_modules/.bin/buf
NODE_CLIENT := clients/node/node_modules/.installed
STAMP  := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
PROTOS := $(shell find protos -name '*.proto')

.PHONY: run test setup gen lint typecheck proto-lint proto-breaking services chromium pytest bench clean

run: setup
	$(VENV)/bin/botmesh up

test: setup services chromium lint typecheck proto-lint proto-breaking pytest

setup: $(STAMP) $(BUF) $(NODE_CLIENT) gen/.stamp

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "botmesh-gen.pth").write_text("$(CURDIR)\n$(CURDIR)/gen\n")'
	rm -f $(VENV)/.installed-* && touch $@

$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The Node.js client (clients/node) has its own lock; its smoke test runs in `make test`.
$(NODE_CLIENT): clients/node/package.json clients/node/package-lock.json
	cd clients/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# One command generates everything derived from the protos (Python, stubs, types, descriptors).
gen: $(STAMP)
	$(PY) tools/codegen.py
	touch gen/.stamp

gen/.stamp: $(PROTOS) tools/codegen.py $(STAMP)
	$(PY) tools/codegen.py
	touch $@

services:
	bash tools/ensure_services.sh

# Debian's headless Chromium for the dashboard's browser test (driven by playwright-core).
chromium:
	bash tools/ensure_chromium.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy .

proto-lint: setup
	$(BUF) lint
	$(BUF) format --diff --exit-code --path protos/botmesh

# Compares the contract with main's (a no-op on main itself; meaningful on branches).
proto-breaking: setup
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:buf.yaml 2>/dev/null; then \
		$(BUF) breaking --against '.git#branch=main'; \
	else echo "buf breaking: no committed contract on main yet"; fi

pytest: setup
	$(PY) -m pytest

bench: setup
	$(PY) bench/getbot.py

clean:
	rm -rf $(VENV) node_modules clients/node/node_modules gen .mypy_cache .ruff_cache .pytest_cache
