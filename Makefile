# The two commands of the README: `make demo` and `make test`. Both set the machine up first.
PY := .venv/bin/python
ARCH := $(shell uname -m | sed 's/aarch64/arm64/')
# Node.js for the Serverless Framework: the system's when new enough, else scripts/bootstrap.sh
# puts one from PyPI here.
export LAMBDAGRAM_NODE_DIR ?= $(CURDIR)/.tools/node
export PATH := $(LAMBDAGRAM_NODE_DIR)/bin:$(PATH)

.PHONY: help setup deploy-tools demo chat dev test lint typecheck unit package package-native check-package

help:  ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

setup:
	@scripts/bootstrap.sh

deploy-tools:
	@scripts/bootstrap.sh --deploy-tools

demo: setup  ## a scripted dialog through the Lambda handler, killed mid-form
	@$(PY) -m lambdagram demo

chat: setup  ## talk to the bot in the terminal
	@$(PY) -m lambdagram chat

dev: setup  ## BOT_TOKEN=... : your bot in Telegram from this machine (getUpdates), no AWS
	@$(PY) -m lambdagram poll $(if $(DELETE_WEBHOOK),--delete-webhook)

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

unit: setup  ## the tests, without building the deployment package
	$(PY) -m pytest

package: deploy-tools  ## dist/dev: the arm64 zip and template `serverless deploy` would upload
	scripts/package.sh dev arm64 dist/dev

package-native: deploy-tools  ## dist/native: the same zip for this machine, to run it here
	scripts/package.sh ci $(ARCH) dist/native
	test -d dist/ric/awslambdaric || $(PY) -m pip install -q --disable-pip-version-check \
		--target dist/ric awslambdaric==4.2.2  # the runtime interface client, alone

test: lint typecheck package package-native  ## everything CI runs
	LAMBDAGRAM_REQUIRE_PACKAGE=1 LAMBDAGRAM_REQUIRE_REDIS=1 $(PY) -m pytest

# ---- Deploying (needs an AWS account; see README "Deploy") ----------------------------------
STAGE ?= dev
SLS := node_modules/.bin/serverless
SSM_PATH = /lambdagram/$(STAGE)
AWS ?= aws

.PHONY: deploy webhook-set webhook-info remove local-up local-params local-deploy local-send local-down

deploy: deploy-tools  ## package (with usable bytecode), deploy that package, point Telegram at it
	scripts/package.sh $(STAGE) arm64 dist/$(STAGE)
	PYTHON_BIN=$(CURDIR)/$(PY) $(SLS) deploy --stage $(STAGE) --package dist/$(STAGE)
	$(MAKE) webhook-set STAGE=$(STAGE)

webhook-set: setup  ## setWebhook to the deployed Function URL, secrets read from SSM
	@url=$$($(SLS) info --stage $(STAGE) --verbose | sed -n 's/^ *WebhookLambdaFunctionUrl: *//p'); \
	test -n "$$url" || { echo "no Function URL in 'serverless info --stage $(STAGE)'" >&2; exit 1; }; \
	BOT_TOKEN=$${BOT_TOKEN:-$$($(AWS) ssm get-parameter --with-decryption --name $(SSM_PATH)/bot-token --query Parameter.Value --output text)} \
	WEBHOOK_SECRET=$${WEBHOOK_SECRET:-$$($(AWS) ssm get-parameter --with-decryption --name $(SSM_PATH)/webhook-secret --query Parameter.Value --output text)} \
	$(PY) -m lambdagram webhook set "$$url"

webhook-info: setup
	@BOT_TOKEN=$${BOT_TOKEN:-$$($(AWS) ssm get-parameter --with-decryption --name $(SSM_PATH)/bot-token --query Parameter.Value --output text)} \
	$(PY) -m lambdagram webhook info

remove: deploy-tools
	$(SLS) remove --stage $(STAGE)

# ---- Rehearsing with LocalStack (needs Docker; see README) -----------------------------------
LOCALSTACK := http://localhost:4566

local-up:
	docker compose -f infra/docker-compose.yml up -d --wait

local-params:  ## the three SecureStrings in LocalStack's SSM (BOT_TOKEN from your env, or a dummy)
	$(AWS) --endpoint-url=$(LOCALSTACK) ssm put-parameter --overwrite --type SecureString \
		--name /lambdagram/local/bot-token --value "$${BOT_TOKEN:-123456789:local-rehearsal-token}"
	$(AWS) --endpoint-url=$(LOCALSTACK) ssm put-parameter --overwrite --type SecureString \
		--name /lambdagram/local/webhook-secret --value "$${WEBHOOK_SECRET:-local-rehearsal-secret}"
	$(AWS) --endpoint-url=$(LOCALSTACK) ssm put-parameter --overwrite --type SecureString \
		--name /lambdagram/local/redis-url --value "redis://redis:6379/0"

local-deploy: deploy-tools
	scripts/package.sh local $(ARCH) dist/local
	PYTHON_BIN=$(CURDIR)/$(PY) $(SLS) deploy --stage local --package dist/local \
		--param="architecture=$(ARCH)" --param="wheelPlatform=$(shell uname -m)"

local-send:  ## POST one /help update to the function in LocalStack and print the reply
	@url=$$($(SLS) info --stage local --verbose | sed -n 's/^ *WebhookLambdaFunctionUrl: *//p'); \
	curl -sS -X POST "$${url%/}/webhook" -H 'Content-Type: application/json' \
		-H "X-Telegram-Bot-Api-Secret-Token: $${WEBHOOK_SECRET:-local-rehearsal-secret}" \
		-d '{"update_id": 1, "message": {"message_id": 1, "date": 1700000000, "text": "/help", "entities": [{"type": "bot_command", "offset": 0, "length": 5}], "chat": {"id": 1, "type": "private", "first_name": "Local"}, "from": {"id": 1, "is_bot": false, "first_name": "Local"}}}'; echo

local-down:
	docker compose -f infra/docker-compose.yml down -v

# ---- Mutation check (README "Tests") ---------------------------------------------------------
.PHONY: mutants
mutants: setup  ## break the engine's critical lines one at a time; the fast tests must notice
	$(PY) scripts/mutants.py

# ---- Benchmarks (README "Performance") ------------------------------------------------------
.PHONY: bench
bench: setup package-native  ## cold start, RSS, warm latency vs aiogram's server, throughput, cost
	PYTHONPATH=. $(PY) -m bench
