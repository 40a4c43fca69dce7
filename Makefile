# One entry point: `make install`, `make test`, `make lint`, `make run`, `make bench`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/protocol libs/events libs/client services/session services/gateway services/orchestrator-stub \
	tools/stack
STAMP := $(VENV)/.installed
CLIENT_TS := libs/client-ts
TS_STAMP := $(CLIENT_TS)/node_modules/.installed

.PHONY: install test test-fault test-cluster cluster-up cluster-down lint format schema docs reliability-report run bench clean

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $(STAMP)

# The TypeScript SDK's dev dependencies (pinned in its package.json; no lock file is kept).
$(TS_STAMP): $(CLIENT_TS)/package.json
	cd $(CLIENT_TS) && npm install --no-package-lock --no-audit --no-fund
	touch $(TS_STAMP)

# The demo page runs on the SDK's built ES modules, served by the gateway at /static/sdk/.
SDK_STATIC := services/gateway/src/switchboard_gateway/static/sdk
SDK_SOURCES := $(CLIENT_TS)/tsconfig.build.json $(wildcard $(CLIENT_TS)/src/*.ts $(CLIENT_TS)/src/*/*.ts)
$(SDK_STATIC)/index.js: $(TS_STAMP) $(SDK_SOURCES)
	cd $(CLIENT_TS) && npm run build
	rm -rf $(SDK_STATIC) && mkdir -p $(SDK_STATIC) && cp -R $(CLIENT_TS)/dist/. $(SDK_STATIC)/

install: $(STAMP) $(TS_STAMP) $(SDK_STATIC)/index.js

test: install
	$(BIN)/python -m pytest -m "not fault and not cluster"

test-fault: install
	$(BIN)/python -m pytest -m fault

# The cluster suite starts (and removes) three RabbitMQ nodes of its own beside the default one.
test-cluster: install
	$(BIN)/python -m pytest -m cluster tests/cluster

# Three clustered nodes sb1..sb3@localhost on AMQP ports 5681-5683 (data in .cluster/).
cluster-up:
	python3 -m scripts.cluster up

cluster-down:
	python3 -m scripts.cluster down

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(filter-out $(CLIENT_TS)/src,$(wildcard libs/*/src)) services/*/src tools/*/src

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/protocol.schema.json and docs/asyncapi.yaml, from libs/protocol.
schema: install
	$(BIN)/python -m scripts.protocol_docs docs
	cd $(CLIENT_TS) && npm run --silent gen-types

docs: schema
	$(BIN)/python -m scripts.config_table

# On purpose only: the reliability figures of this checkout's last runs into docs/reliability.md.
reliability-report: install
	$(BIN)/python -m tests.reliability.report

run: install
	$(BIN)/python -m switchboard_stack

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(CLIENT_TS)/node_modules $(CLIENT_TS)/dist $(SDK_STATIC)
