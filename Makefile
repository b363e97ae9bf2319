# `make demo`: install and run the broker end to end against loopback stand-ins.
# `make test`: install and run the whole test suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps test demo lint clean

install: $(STAMP)

# The registry tests run Debian's docker-registry (CNCF distribution). Installed when root;
# otherwise those tests are skipped locally (and fail under CI=true).
system-deps:
	@if ! command -v docker-registry >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry; \
	  else echo "note: run 'sudo apt-get install docker-registry' to run the registry tests"; fi; \
	fi

$(STAMP): pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "python3 venv missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: install system-deps
	$(BIN)/ruff check .
	$(BIN)/pytest

demo: install
	$(BIN)/python examples/demo.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .pytest_cache .hypothesis *.egg-info
