# The two commands that matter are in the README: `docker compose up -d` runs the stack, `make test` tests it.
# `make test` works from a fresh clone: it creates .venv, installs pinned packages (torch held at 2.13.0 by
# constraints.txt), installs the web app's npm packages, lints, runs the web unit tests, builds the web app,
# and runs the whole pytest suite (unit, service and end-to-end tests).
SHELL := /bin/bash
export NEXT_TELEMETRY_DISABLED := 1
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Extra pip arguments for the torch install, e.g. an index of CPU builds on a machine without CUDA.
TORCH_PIP_ARGS ?=
PY_REQS := constraints.txt llm-api/requirements.txt model-worker/requirements.txt native/requirements.txt \
	realtime/requirements.txt deploy/requirements.txt tests/requirements.txt
# moshi (the real-time voice service's inference code) pins torch<2.10 and huggingface-hub<1.0 in its metadata:
# installed without its dependency pins, beside the versions realtime/requirements.txt lists (see there).
MOSHI_VERSION := 0.2.13
PY_STAMP := $(VENV)/.installed
WEB_STAMP := web/node_modules/.installed

.PHONY: test install lint web-test web-build pytest bench bench-env run clean help

help:
	@echo "make test   - install everything the tests need, lint, and run the whole test suite"
	@echo "make run    - run the stack natively, without Docker (Ollama if it answers, else llama.cpp + SmolLM2)"
	@echo "make lint   - ruff on all Python code"
	@echo "make bench  - benchmarks (llm-api vs LiteLLM in front of Ollama, model-worker on tiny checkpoints, Token2Wav memory, history store SQLite vs PostgreSQL, real-time voice step and first reply)"

test: install lint web-test web-build pytest

install: $(PY_STAMP) $(WEB_STAMP)

$(PY_STAMP): $(PY_REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt torch==2.13.0 $(TORCH_PIP_ARGS)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt \
		-r llm-api/requirements.txt -r model-worker/requirements.txt -r native/requirements.txt \
		-r realtime/requirements.txt -r deploy/requirements.txt -r tests/requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps moshi==$(MOSHI_VERSION)
	touch $@

$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(PY_STAMP)
	$(BIN)/ruff check .

web-test: $(WEB_STAMP)
	cd web && npm run --silent lint && npm run --silent typecheck && npm test --silent

web-build: $(WEB_STAMP)
	cd web && npm run --silent build

pytest: $(PY_STAMP)
	$(BIN)/pytest

# LiteLLM's proxy, the gateway the llm-api is measured against, lives in its own venv (never in the product's).
LITELLM_VERSION := 1.108.7
BENCH_VENV := .bench/litellm-venv
BENCH_STAMP := $(BENCH_VENV)/.installed-$(LITELLM_VERSION)

bench-env: $(BENCH_STAMP)

$(BENCH_STAMP):
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --disable-pip-version-check "litellm[proxy]==$(LITELLM_VERSION)"
	touch $@

bench: install bench-env
	$(BIN)/python benchmarks/gateway_vs_litellm.py
	$(BIN)/python benchmarks/worker_tiny.py
	$(BIN)/python benchmarks/worker_before_after.py
	$(BIN)/python benchmarks/speech_memory.py
	$(BIN)/python benchmarks/history_store.py
	$(BIN)/python benchmarks/realtime_step.py

# The stack without Docker: llm-api and web (and the worker on CPU with RUN_ARGS=--worker); Ctrl-C stops it.
RUN_ARGS ?=
run: install web-build
	$(BIN)/python native/run.py $(RUN_ARGS)

clean:
	rm -rf $(VENV) web/node_modules web/.next test-artifacts .pytest_cache .ruff_cache .cache .run
