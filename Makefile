# The two commands of the README: `make run` (a server, the example worker and a few example
# registrations) and `make test` (every gate CI runs). Both create .venv when it is missing.

PYTHON ?= python3
VENV ?= .venv
PORT ?= 7233
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
EXAMPLE := examples/registration

.PHONY: run test lint venv clean

# Reinstall whenever the dependencies change.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP)

# The server stays in the foreground; the worker and the example start run in the background
# and are stopped with it (Ctrl-C).
run: $(STAMP)
	@export PLAIT_ADDRESS=http://127.0.0.1:$(PORT); \
	$(BIN)/python $(EXAMPLE)/worker.py & worker=$$!; \
	$(BIN)/python $(EXAMPLE)/start.py -n 3 --with-invalid & start=$$!; \
	trap 'kill $$worker $$start 2>/dev/null; wait' EXIT INT TERM; \
	echo "plait UI: http://127.0.0.1:$(PORT)/   (Ctrl-C stops the server, worker and example)"; \
	$(BIN)/plait server --db sqlite:///./plait.db --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff check src tests examples
	$(BIN)/mypy
	cd $(EXAMPLE) && MYPYPATH=. ../../$(BIN)/mypy --config-file ../../pyproject.toml *.py

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
