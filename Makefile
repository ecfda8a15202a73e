# Two commands do all the set-up (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
# torch first and pinned: a bare `torch` would pull a multi-GB CUDA build. Override: make demo TORCH=torch==2.11.0
# (these machines serve 2.13.0's CPU build from local disk; elsewhere add TORCH_INDEX=https://download.pytorch.org/whl/cpu)
TORCH  ?= torch==2.13.0
TORCH_INDEX ?=
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint install dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp names the torch it installed, so `make demo TORCH=…` really installs that one.
STAMP := $(VENV)/.installed-$(subst =,-,$(subst <,,$(subst >,,$(TORCH))))

$(STAMP): $(BIN)/python pyproject.toml
	$(PIP) install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH)"
	$(PIP) install -q -e .
	touch $@

$(VENV)/.dev-installed: $(STAMP)
	$(PIP) install -q -e ".[dev,ray]"
	touch $@

install: $(STAMP)
dev: $(VENV)/.dev-installed

demo: $(STAMP)
	$(BIN)/labconsole demo

# Lint, format and types first: a fast failure names the file and line before the long suite starts.
lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	bash tests/helpers/install_clis.sh
	LABCONSOLE_SLOW_TESTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider --durations=25

clean:
	rm -rf $(VENV) .pytest_trackio
