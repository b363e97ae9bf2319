# `make demo`: install and run the broker end to end against loopback stand-ins.
# `make test`: install and run the whole test suite (`make e2e` included).
# `make e2e`: the packaged zip in the real Lambda runtime, and skopeo pulling with its logins.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

CONFIG ?= broker.yml
STAGE  ?= dev
REGION ?= us-east-1
ARCH   ?= arm64
NPX    := npx --no-install
SLS_ENV := SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off SLS_INTERACTIVE_SETUP_DISABLE=1

.PHONY: install system-deps test e2e demo sandbox bench lint clean package deploy

install: $(STAMP)

# The registry tests run Debian's docker-registry (CNCF distribution), the e2e tests skopeo
# (containers/image, as a container runtime pulls). Installed when root; otherwise those tests
# are skipped locally (and fail under CI=true).
system-deps:
	@missing=""; for tool in docker-registry skopeo; do \
	  command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "note: run 'sudo apt-get install$$missing' to run the registry and e2e tests"; fi; \
	fi
	@if ! command -v npm >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; \
	  else echo "note: install Node.js and npm to package serverless.yml"; fi; \
	fi

# osls: the open-source, Serverless Framework v3-compatible CLI (no licence login).
node_modules/.package-lock.json: package-lock.json
	@if command -v npm >/dev/null; then npm ci --no-audit --no-fund --loglevel=error; \
	else echo "note: no npm; the packaging tests will be skipped (and fail under CI=true)"; fi

# broker.yml -> .build/broker.zip + .build/deploy.json -> .serverless/ (CloudFormation + zip).
package: install node_modules/.package-lock.json
	$(BIN)/python deploy/build.py --called-as make --config $(CONFIG) --stage $(STAGE) --region $(REGION) --arch $(ARCH) $(BUILD_ARGS) $(if $(CONFIG_SOURCE),--config-source $(CONFIG_SOURCE))
	$(SLS_ENV) $(NPX) osls package --stage $(STAGE) --region $(REGION) $(SLS_ARGS)

deploy: package
	$(SLS_ENV) $(NPX) osls deploy --package .serverless --stage $(STAGE) --region $(REGION) $(SLS_ARGS)

# The example ACR plugin is installed too: its tests run the plugin contract through the App.
$(STAMP): pyproject.toml examples/plugins/broker-acr/pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { echo "python3 venv missing: apt-get install python3-venv"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e examples/plugins/broker-acr
	touch $@

test: install system-deps node_modules/.package-lock.json
	$(BIN)/ruff check .
	$(BIN)/pytest

# Python 3.12, the emulator (from the aws-sam-cli wheel) and awslambdaric are fetched into .cache/.
e2e: install system-deps
	$(BIN)/pytest tests/e2e

demo: install
	$(BIN)/python examples/demo.py

# The demo's stand-ins (moto, OpenBao) on 127.0.0.1, kept running until Ctrl-C.
sandbox: install
	$(BIN)/python examples/sandbox.py

# Broker vs the naive handler vs Powertools on loopback stand-ins; writes benchmarks/results.md.
bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .demo .build .serverless .cache node_modules .pytest_cache .hypothesis *.egg-info
