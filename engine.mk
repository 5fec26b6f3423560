# The engine's own make targets, included by the Makefile (README "Two commands", "Tests",
# "Performance"). A bot project made with `python -m lambdagram new` has the Makefile, not this.
.PHONY: demo test-py313 mutants bench

demo: setup  ## a scripted dialog through the Lambda handler, killed mid-form
	@$(PY) -m lambdagram demo

PY313 ?= python3.13
test-py313: setup  ## the tests on Python 3.13 as well (in .venv-3.13; PY313=/path/to/python3.13)
	test -x .venv-3.13/bin/python || $(PY313) -m venv .venv-3.13
	.venv-3.13/bin/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	LAMBDAGRAM_REQUIRE_REDIS=1 .venv-3.13/bin/python -m pytest

# ---- Mutation check (README "Tests") ---------------------------------------------------------
.PHONY: mutants
mutants: setup  ## break the engine's critical lines one at a time; the fast tests must notice
	$(PY) scripts/mutants.py

# ---- Benchmarks (README "Performance") ------------------------------------------------------
.PHONY: bench
bench: setup package-native  ## cold start, RSS, warm latency vs aiogram's server, throughput, cost
	PYTHONPATH=. $(PY) -m bench
