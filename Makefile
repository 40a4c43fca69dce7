# One entry point: `make help` lists the targets (each `target: ... ## what it does`).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/protocol libs/events libs/edge libs/runtime libs/client services/session services/gateway services/orchestrator-stub \
	tools/stack
STAMP := $(VENV)/.installed
CLIENT_TS := libs/client-ts
TS_STAMP := $(CLIENT_TS)/node_modules/.installed
AGUI_TS := tests/agui_front/node
AGUI_STAMP := $(AGUI_TS)/node_modules/.installed

.PHONY: help install test test-fault test-cluster cluster-up cluster-down lint format schema docs reliability-report run bench clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 28

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $(STAMP)

# The TypeScript SDK's dev dependencies (pinned in its package.json; no lock file is kept).
$(TS_STAMP): $(CLIENT_TS)/package.json
	cd $(CLIENT_TS) && npm install --no-package-lock --no-audit --no-fund
	touch $(TS_STAMP)

# AG-UI's own client (@ag-ui/client, pinned in its package.json) for the AG-UI endpoint tests.
$(AGUI_STAMP): $(AGUI_TS)/package.json
	cd $(AGUI_TS) && npm install --no-package-lock --no-audit --no-fund
	touch $(AGUI_STAMP)

# The demo page runs on the SDK's built ES modules, served by the gateway at /static/sdk/.
SDK_STATIC := services/gateway/src/switchboard_gateway/static/sdk
SDK_SOURCES := $(CLIENT_TS)/tsconfig.build.json $(wildcard $(CLIENT_TS)/src/*.ts $(CLIENT_TS)/src/*/*.ts)
$(SDK_STATIC)/index.js: $(TS_STAMP) $(SDK_SOURCES)
	cd $(CLIENT_TS) && npm run build
	rm -rf $(SDK_STATIC) && mkdir -p $(SDK_STATIC) && cp -R $(CLIENT_TS)/dist/. $(SDK_STATIC)/

install: $(STAMP) $(TS_STAMP) $(AGUI_STAMP) $(SDK_STATIC)/index.js ## the venv, every package pinned, the TypeScript SDK built
	@command -v espeak-ng >/dev/null || echo "make install: espeak-ng is missing (the default text-to-speech of voice replies); install it: apt-get install -y espeak-ng" >&2

# Four test processes (pytest-xdist), each module's tests in one of them (its module-scoped stack
# once): the suite mostly waits on services, so four overlap well even on two cores.
TEST_PROCESSES ?= 4
test: install ## the test suite against real RabbitMQ and Postgres (not fault, not cluster)
	$(BIN)/python -m pytest -m "not fault and not cluster" -n $(TEST_PROCESSES) --dist loadscope

test-fault: install ## the long fault scenarios (restarts the local RabbitMQ and Postgres)
	$(BIN)/python -m pytest -m fault

# The cluster suite starts (and removes) three RabbitMQ nodes of its own beside the default one.
test-cluster: install ## the cluster suite on three RabbitMQ nodes it starts and removes
	$(BIN)/python -m pytest -m cluster tests/cluster

# Three clustered nodes sb1..sb3@localhost on AMQP ports 5681-5683 (data in .cluster/).
cluster-up: ## start three clustered RabbitMQ nodes by hand (docs/operating.md)
	python3 -m scripts.cluster up

cluster-down: ## stop and remove them
	python3 -m scripts.cluster down

lint: install ## ruff check, ruff format --check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(filter-out $(CLIENT_TS)/src,$(wildcard libs/*/src)) services/*/src tools/*/src

format: install ## ruff format and ruff check --fix
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# docs/protocol.schema.json and docs/asyncapi.yaml, from libs/protocol.
schema: install ## docs/protocol.schema.json, docs/asyncapi.yaml and the SDK's types
	$(BIN)/python -m scripts.protocol_docs docs
	cd $(CLIENT_TS) && npm run --silent gen-types

docs: schema ## the schema, and the table of docs/configuration.md
	$(BIN)/python -m scripts.config_table

# On purpose only: the reliability figures of this checkout's last runs into docs/reliability.md.
reliability-report: install ## docs/reliability.md from the reliability scenarios' last figures
	$(BIN)/python -m tests.reliability.report

run: install ## the whole stack and the demo page at http://127.0.0.1:8000/
	$(BIN)/python -m switchboard_stack

bench: install ## the benchmark (bench/README.md), into bench/results/
	$(BIN)/python -m bench

clean: ## remove the venv, node_modules and built SDK
	rm -rf $(VENV) $(CLIENT_TS)/node_modules $(CLIENT_TS)/dist $(SDK_STATIC)
