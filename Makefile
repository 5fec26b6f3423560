# The two commands of the README: `make demo` and `make test`. Both set the machine up first.
PY := .venv/bin/python

.PHONY: setup demo chat test lint typecheck unit

setup:
	@scripts/bootstrap.sh

demo: setup  ## a scripted dialog through the Lambda handler, killed mid-form
	@$(PY) -m bot demo

chat: setup  ## talk to the bot in the terminal
	@$(PY) -m bot chat

lint: setup
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: setup
	$(PY) -m mypy

unit: setup
	$(PY) -m pytest

test: lint typecheck unit  ## everything CI runs
