# stockade: `make demo` and `make test` do all the set-up on a fresh Debian or Ubuntu machine.
PYTHON ?= /usr/bin/python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench system-deps man clean

# Debian's python3 (not a per-user pyenv build) so that tests can run stockade as `nobody`.
# The target is pip, not python: a .venv left without pip (an interrupted or --without-pip
# venv) is completed on the next make instead of failing with ".venv/bin/pip: No such file".
$(BIN)/pip:
	scripts/install-system-deps.sh base
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# setup.py builds the supervisor's optional C extension (cffi): rebuilt when its source changes
EXT_SRC := $(wildcard setup.py src/stockade/enforce/supervisor/_unotify_build.py src/stockade/audit/readers/_fastread*.c src/stockade/audit/readers/_fastread.h)

EXT_SRC += $(wildcard src/stockade/enforce/_fsbatch_build.py)

$(VENV)/.demo-installed: $(BIN)/pip pyproject.toml $(EXT_SRC)
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-installed: $(BIN)/pip pyproject.toml $(EXT_SRC)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Man pages from the argparse tree, under the venv's share/man (`man stockade-run` once the venv
# is on PATH).
man: $(BIN)/pip
	$(BIN)/pip install --quiet 'argparse-manpage>=4.5'
	$(BIN)/python -m stockade.cli._manpages $(VENV)/share/man/man1 >/dev/null

demo: $(VENV)/.demo-installed man
	scripts/demo.sh

system-deps:
	scripts/install-system-deps.sh test

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests benchmarks

test: system-deps $(VENV)/.test-installed man
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

bench: $(VENV)/.test-installed
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .hypothesis
