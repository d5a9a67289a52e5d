# chocohub: `make run` (the hub on 127.0.0.1:8000), `make demo` (second terminal), `make test`.
# `PORT=8001 make run` (and `PORT=8001 make demo`) serve elsewhere.
# Everything installs itself into .venv on first use; only Python 3.11 is needed.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

# Dev-stage secrets for a laptop: the environment wins (`STRIPE_WEBHOOK_SECRET=... make run`).
STRIPE_WEBHOOK_SECRET ?= whsec_dev_chocohub_only
SLACK_SIGNING_SECRET ?= dev-slack-signing-secret
FORMSTACK_HMAC_KEY ?= dev-formstack-hmac-key
# The Slack user `make demo`'s commands come from (devtools/payloads.py).
SLACK_OPERATORS ?= U0001
HUB_STATE_DIR ?= .hub
PORT ?= 8000
# The AWS stage of `make package|deploy|destroy|secrets` (each has its own queues, table, secrets).
STAGE ?= dev
HUB_PUBLIC_URL ?= http://127.0.0.1:$(PORT)
HUB_ADMIN_TOKEN ?= dev-admin-token
DEV_ENV := STRIPE_WEBHOOK_SECRET=$(STRIPE_WEBHOOK_SECRET) SLACK_SIGNING_SECRET=$(SLACK_SIGNING_SECRET) \
	FORMSTACK_HMAC_KEY=$(FORMSTACK_HMAC_KEY) SLACK_OPERATORS=$(SLACK_OPERATORS) HUB_STATE_DIR=$(HUB_STATE_DIR) \
	HUB_PUBLIC_URL=$(HUB_PUBLIC_URL) \
	HUB_ADMIN_TOKEN=$(HUB_ADMIN_TOKEN)

.PHONY: setup run demo test lint format chaos bench clean replay sync sheet orders queues dead-letters story package deploy destroy secrets resources browser screenshot

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

# chalice local under a supervisor that restarts it on a source edit only (devtools/serve.py).
run: $(STAMP)
	env $(DEV_ENV) $(BIN)/python -m devtools.serve --host 127.0.0.1 --port $(PORT) --stage dev

demo: $(STAMP)
	env $(DEV_ENV) HUB_URL=http://127.0.0.1:$(PORT) $(BIN)/python -m devtools.demo

test: $(STAMP) lint browser
	$(BIN)/python -m pytest

# The dashboard's browser test drives Debian's chromium (never a browser Playwright downloads).
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@test -x $(CHROMIUM) || ($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

# Rewrite docs/dashboard.png (the README's screenshot) with the browser test.
screenshot: $(STAMP) browser
	SCREENSHOT=$(CURDIR)/docs/dashboard.png $(BIN)/python -m pytest -q tests/e2e/test_dashboard_browser.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

chaos: $(STAMP)
	$(BIN)/python -m tests.chaos

# The operators' command line on the dev stage (`python -m chalicelib --help`); ARGS passes arguments:
# `make replay ARGS=all`, `make sheet ARGS=ann@example.com`, `make story ARGS=in_123`.
replay sync sheet orders queues dead-letters story: $(STAMP)
	@env $(DEV_ENV) $(BIN)/python -m chalicelib --stage dev $@ $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache

bench: $(STAMP)
	$(BIN)/python -m bench

# AWS (README "Deploy to AWS"): the template and zip under build/$(STAGE)/, then CloudFormation.
package: $(STAMP)
	$(BIN)/python -m infra.package $(STAGE)

deploy: package
	$(BIN)/python -m infra.deploy deploy $(STAGE)

destroy: $(STAMP)
	$(BIN)/python -m infra.deploy destroy $(STAGE)

# `make secrets STAGE=prod FILE=~/chocohub-prod.secrets` (KEY=VALUE lines), or asks for each missing one.
secrets: $(STAMP)
	$(BIN)/python -m infra.secrets $(STAGE) $(if $(FILE),--file $(FILE))

# Only for `chalice deploy` users: the stage's queues, table and role policy (README "chalice deploy instead").
resources: $(STAMP)
	$(BIN)/python -m infra.resources $(STAGE)
