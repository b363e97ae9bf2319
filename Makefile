# `make demo`: install and run the broker end to end against loopback stand-ins.
# `make test`: install and run the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "python3 venv missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis *.egg-info
