# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# Each creates .venv from the lock file when it is missing or stale.

PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.synced

.PHONY: all venv test lint format bench demo firmware clean

all: test

$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	# --inexact keeps uv itself, which lives in the same environment.
	$(BIN)/uv sync --frozen --inexact --quiet
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	# The firmware is MicroPython: checked by pyright against the ESP32 stubs (pyright needs node on PATH).
	$(BIN)/pyright

firmware: $(STAMP)
	$(BIN)/python scripts/build_firmware.py

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python -m bench

demo: $(STAMP)
	$(BIN)/nightwatch demo

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
