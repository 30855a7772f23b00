# Backbeat: the two commands a newcomer needs are `make up` and `make test`.
SHELL := /bin/bash
ARGS ?=

.PHONY: help up down test infra venv lint typecheck format asyncapi relock \
	compose-up compose-down compose-test

help:
	@echo "make up        install what is missing, start PostgreSQL, Kafka and every service"
	@echo "make down      stop everything 'make up' or 'make test' started"
	@echo "make test      start the infrastructure (reusing what runs) and run the test suite"
	@echo "make infra     only install and start PostgreSQL and Kafka (for benchmarks)"
	@echo "make compose-up    the same stack in Docker (docker-compose.yml), engine started if need be"
	@echo "make compose-down  remove the compose stack's containers and volumes, stop the engine it started"
	@echo "make compose-test  the end-to-end suite against a throwaway compose stack on free ports"
	@echo "make lint      ruff check, format check and the import rules (lint-imports)"
	@echo "make asyncapi  regenerate docs/asyncapi.yaml from the event models"

venv:
	@bash infra/python.sh

infra:
	@bash infra/infra.sh

test:
	@bash infra/test.sh $(ARGS)

up:
	@bash infra/stack.sh up

down:
	@bash infra/stack.sh down

compose-up:
	@bash infra/docker/compose.sh up

compose-down:
	@bash infra/docker/compose.sh down

compose-test:
	@bash infra/docker/compose.sh test $(ARGS)

lint:
	@[ -x .venv/bin/lint-imports ] || bash infra/python.sh
	@.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/lint-imports --no-logo

typecheck:
	@.venv/bin/mypy $$(for d in libs/*/src/backbeat/* services/*/src/backbeat/*; do \
		[ -d "$$d" ] && printf -- '-p backbeat.%s ' "$$(basename $$d)"; done)

format:
	@.venv/bin/ruff format . && .venv/bin/ruff check --fix .

asyncapi:
	@.venv/bin/python -m backbeat.events.asyncapi > docs/asyncapi.yaml

relock:
	@bash infra/python.sh --relock
