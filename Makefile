# Quick start (a fresh machine with Python 3.11+, git and make):
#   make report   the claim suite on the simulated bench, HTML report in artifacts/report.html
#   make test     the harness's own tests and the claim suite
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: report test lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# An editable install compiles nothing, and under PYTHONDONTWRITEBYTECODE no run writes
	# bytecode either: every `hil` command would compile its modules (40 ms for `hil analyze`).
	$(BIN)/python -m compileall -q hil
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/pytest claims --html=artifacts/report.html --self-contained-html

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check hil fixtures claims tests perf

clean:
	rm -rf $(VENV) artifacts .pytest_cache
