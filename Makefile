# The two commands of the README: `make demo` (engine.mk) and `make test`. Both set the machine up
# first. A project made with `python -m lambdagram new` gets this file as it is.
PY := .venv/bin/python
ARCH := $(shell uname -m | sed 's/aarch64/arm64/')
# Node.js for the Serverless Framework: the system's when new enough, else scripts/bootstrap.sh
# puts one from PyPI here.
export LAMBDAGRAM_NODE_DIR ?= $(CURDIR)/.tools/node
export PATH := $(LAMBDAGRAM_NODE_DIR)/bin:$(PATH)

.PHONY: help setup deploy-tools chat dev test lint typecheck unit package package-native check-package

help:  ## this list
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z0-9-]+):.*## (.*)/  make \1\t\2/' | expand -t 24

setup:
	@scripts/bootstrap.sh

deploy-tools:
	@scripts/bootstrap.sh --deploy-tools

chat: setup  ## talk to the bot in the terminal
	@$(PY) -m lambdagram chat

dev: setup  ## BOT_TOKEN=... : your bot in Telegram from this machine (getUpdates), no AWS; OFFLINE=1: no Telegram
	@$(PY) -m lambdagram poll $(if $(DELETE_WEBHOOK),--delete-webhook) $(if $(OFFLINE),--offline)

lint: setup  ## ruff: the lint rules and the formatting (make test runs it)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup  ## mypy, strict for the engine (make test runs it)
	$(PY) -m mypy

unit: setup  ## the tests, without building the deployment package
	$(PY) -m pytest

package: deploy-tools  ## dist/dev: the arm64 zip and template `serverless deploy` would upload
	scripts/package.sh dev arm64 dist/dev --param="longWork=$(LONG_WORK)" --param="timers=$(TIMERS)"

package-native: deploy-tools  ## dist/native: the same zip for this machine, to run it here
	scripts/package.sh ci $(ARCH) dist/native
	test -d dist/ric/awslambdaric || $(PY) -m pip install -q --disable-pip-version-check \
		--target dist/ric awslambdaric==4.2.2  # the runtime interface client, alone

test: lint typecheck package package-native  ## everything CI runs (with the LocalStack rehearsal where Docker can run)
	LAMBDAGRAM_REQUIRE_PACKAGE=1 LAMBDAGRAM_REQUIRE_REDIS=1 $(PY) -m pytest
	@if why=$$(scripts/localstack.sh can-run); then $(MAKE) --no-print-directory local-test; \
	else echo "make test: $$why"; fi

# ---- Deploying (needs an AWS account; see README "Deploy") ----------------------------------
# One set of knobs for every command below: make deploy STAGE=prod REGION=eu-central-1 \
#   PARAMS="network=vpc redisCluster=1"   (PARAMS: serverless.yml's params, name=value each)
STAGE ?= dev
REGION ?= $(or $(AWS_REGION),$(AWS_DEFAULT_REGION),eu-west-1)
PARAMS ?=
SLS := node_modules/.bin/serverless
PYVER = $(shell $(PY) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
# The long-work queue and worker when the bot flags a handler long (PARAMS="longWork=..." wins).
LONG_WORK = $(shell $(PY) -m lambdagram long-work 2>/dev/null || echo off)
TIMERS = $(shell $(PY) -m lambdagram timers 2>/dev/null || echo off)
SLS_PARAMS = --region $(REGION) --param="pythonVersion=$(PYVER)" --param="longWork=$(LONG_WORK)" \
	--param="timers=$(TIMERS)" \
	$(foreach p,$(PARAMS),--param="$(p)")
SLS_ARGS = --stage $(STAGE) $(SLS_PARAMS)
SSM_PATH = /lambdagram/$(STAGE)
AWS ?= aws
SSM = $(AWS) --region $(REGION) ssm
SSM_GET = $(SSM) get-parameter --with-decryption --query Parameter.Value --output text --name $(SSM_PATH)

.PHONY: params deploy preflight webhook-set webhook-info alarm-email broadcast remove local-up local-params local-deploy local-send local-down

params: setup  ## BOT_TOKEN=... REDIS_URL=... : the stage's SecureStrings in SSM (the webhook secret made once)
	@STAGE=$(STAGE) REGION=$(REGION) AWS="$(AWS)" scripts/params.sh

preflight: deploy-tools  ## can this account deploy the stage? (reserved concurrency vs the account's quota)
	@STAGE=$(STAGE) REGION=$(REGION) AWS="$(AWS)" scripts/preflight.sh $(SLS_ARGS)

deploy: preflight  ## package (with usable bytecode), deploy that package, point Telegram at it
	AWS_REGION=$(REGION) scripts/package.sh $(STAGE) arm64 dist/$(STAGE) $(SLS_PARAMS)
	PYTHON_BIN=$(CURDIR)/$(PY) $(SLS) deploy --package dist/$(STAGE) $(SLS_ARGS)
	$(MAKE) webhook-set STAGE=$(STAGE) REGION=$(REGION) PARAMS="$(PARAMS)"

webhook-set: deploy-tools  ## setWebhook to the deployed Function URL or HTTP API, secrets read from SSM
	@url=$$($(SLS) info --verbose $(SLS_ARGS) | sed -n 's/^ *\(WebhookLambdaFunctionUrl\|HttpApiUrl\): *//p' | head -n 1); \
	test -n "$$url" || { echo "error: no Function URL or HTTP API URL in 'serverless info $(SLS_ARGS)': deployed?" >&2; exit 1; }; \
	BOT_TOKEN=$${BOT_TOKEN:-$$($(SSM_GET)/bot-token)} \
	WEBHOOK_SECRET=$${WEBHOOK_SECRET:-$$($(SSM_GET)/webhook-secret)} \
	$(PY) -m lambdagram webhook set "$$url"

webhook-info: setup  ## what Telegram says about the webhook: URL, pending updates, last error
	@BOT_TOKEN=$${BOT_TOKEN:-$$($(SSM_GET)/bot-token 2>/dev/null)} $(PY) -m lambdagram webhook info

alarm-email: deploy-tools  ## EMAIL=you@example.com : subscribe to the stage's alarms (confirm the mail AWS sends)
	@test -n "$(EMAIL)" || { echo "error: give EMAIL=you@example.com" >&2; exit 1; }
	@arn=$$($(SLS) info --verbose $(SLS_ARGS) | sed -n 's/^ *AlarmTopicArn: *//p'); \
	test -n "$$arn" || { echo "error: no AlarmTopicArn in 'serverless info $(SLS_ARGS)' (alarms=off, or not deployed)" >&2; exit 1; }; \
	$(AWS) --region $(REGION) sns subscribe --topic-arn "$$arn" --protocol email --notification-endpoint "$(EMAIL)" >/dev/null && \
	echo "$(EMAIL) subscribed to $$arn: confirm the link in the mail AWS sends"

broadcast: setup  ## through the deployed function: ACTION=start TO=chats.txt TEXT=... (or COPY=chat:msg) | ACTION=status [ID=...] | ACTION=cancel ID=...
	@mkdir -p .tmp && $(PY) -m lambdagram broadcast $(or $(ACTION),status) $(ID) --payload \
		$(if $(TO),--to "$(TO)") $(if $(TEXT),--text "$(TEXT)") $(if $(COPY),--copy "$(COPY)") \
		$(if $(PARSE_MODE),--parse-mode $(PARSE_MODE)) > .tmp/broadcast-request.json
	@$(AWS) --region $(REGION) lambda invoke --function-name lambdagram-$(STAGE)-webhook \
		--payload fileb://.tmp/broadcast-request.json \
		.tmp/broadcast-answer.json >/dev/null && \
	$(PY) -c 'import json,sys; a=json.load(open(".tmp/broadcast-answer.json")); print("\n".join(a.get("lines") or [str(a.get("description") or a)])); sys.exit(0 if a.get("ok") else 1)'

remove: deploy-tools  ## delete the stage's stack (the SSM parameters stay)
	$(SLS) remove $(SLS_ARGS)

# ---- Rehearsing with LocalStack (needs Docker, or root to start one; README) ---------------------
.PHONY: local-up local-deploy local-send local-down local-test

local-up: deploy-tools  ## LocalStack, Redis and a fake Bot API (official images, or built here offline)
	@scripts/localstack.sh up

local-deploy: deploy-tools  ## the three parameters and serverless deploy --stage local into LocalStack
	@scripts/localstack.sh deploy

local-send:  ## POST one /help update to the deployed function's URL and print the answer
	@scripts/localstack.sh send

local-down:  ## stop everything local-up started (by PID), remove the functions' containers
	@scripts/localstack.sh down

local-test: deploy-tools  ## up, deploy, a whole dialog and more through the deployed function, down
	@scripts/localstack.sh up || { code=$$?; scripts/localstack.sh down; exit $$code; }
	@if [ -d tests/localstack ]; then LAMBDAGRAM_LOCALSTACK_TEST=1 $(PY) -m pytest -p no:cacheprovider -s tests/localstack; \
	else scripts/localstack.sh deploy && scripts/localstack.sh send; fi; \
	code=$$?; scripts/localstack.sh down; exit $$code

# The engine's own targets (demo, mutants, bench, test-py313): in its repository, not in a
# project made with `python -m lambdagram new`, which ships this Makefile without them.
-include engine.mk
