# One entry point: `make install`, `make test`, `make lint`, `make run`, `make bench`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/events libs/client services/session services/gateway services/orchestrator-stub
STAMP := $(VENV)/.installed

.PHONY: install test test-fault test-cluster cluster-up cluster-down lint format schema docs reliability-report run bench clean

$(STAMP): constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c constraints.txt $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

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
	$(BIN)/mypy libs/*/src services/*/src

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: install
	$(BIN)/python -m switchboard_events.schema docs/events.schema.json

docs: install
	$(BIN)/python -m switchboard_events.schema docs/events.schema.json
	$(BIN)/python -m scripts.config_table

# On purpose only: the reliability figures of this checkout's last runs into docs/reliability.md.
reliability-report: install
	$(BIN)/python -m tests.reliability.report

run: install
	$(BIN)/python -m switchboard_gateway.devstack

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)
