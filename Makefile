# govbot — two commands on a fresh machine:  `make run`  (the bot)  and  `make test`  (all tests).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.11 for the service, Python 3.10 for Rasa 3.6 (pyenv has both here; override if needed).
PYENV_ROOT_DIR := $(shell pyenv root 2>/dev/null || echo $$HOME/.pyenv)
PYTHON311 ?= $(firstword $(wildcard $(PYENV_ROOT_DIR)/versions/3.11*/bin/python3.11) $(shell command -v python3.11))
PYTHON310 ?= $(firstword $(wildcard $(PYENV_ROOT_DIR)/versions/3.10*/bin/python3.10) $(shell command -v python3.10))

VENV      := .venv
VENV_RASA := .venv-rasa
GOVBOT    := $(VENV)/bin/govbot
PYTEST_ARGS ?=

.PHONY: help setup run test test-fast train eval-nlu bench-faq bench-load bench-faults model clean

help:
	@echo "make run       set up both venvs, build the embedding model, train if needed, start everything"
	@echo "make test      set up, then run every test (unit + end-to-end with the real Rasa and action server)"
	@echo "make eval-nlu  NLU evaluation on the held-out test set (intent macro-F1, entity F1)"
	@echo "make train     retrain the Rasa model if its inputs changed"
	@echo "make bench-faq retriever benchmark on ../shared/eval/faq_transfer (dev split)"
	@echo "make bench-load    load benchmark of a private stack (levels 50..1000 conversations, ~8 min)"
	@echo "make bench-faults  fault harness + bad-input corpus on a private stack (~7 min)"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON311)" || { echo "Python 3.11 not found: set PYTHON311=/path/to/python3.11"; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON311) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel
	# the CPU wheel first, so sentence-transformers never pulls a CUDA build
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(VENV_RASA)/.installed: bot/requirements-rasa.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found: set PYTHON310=/path/to/python3.10"; exit 1; }
	test -x $(VENV_RASA)/bin/python || $(PYTHON310) -m venv $(VENV_RASA)
	$(VENV_RASA)/bin/pip install -q --upgrade 'pip<25' setuptools wheel
	$(VENV_RASA)/bin/pip install -q -r bot/requirements-rasa.txt
	touch $@

setup: $(VENV)/.installed $(VENV_RASA)/.installed

model: setup
	$(GOVBOT) kb build-model

run: setup
	$(GOVBOT) run

train: setup
	$(GOVBOT) train

test: setup model
	$(GOVBOT) train
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/python -m pytest -m "not e2e" $(PYTEST_ARGS)

eval-nlu: setup
	$(GOVBOT) eval-nlu

bench-faq: setup model
	$(VENV)/bin/govbot-bench faq --kb ../shared/eval/faq_transfer/kb.tsv --split-dev ../shared/eval/faq_transfer/dev.tsv

bench-load: setup model
	$(GOVBOT) train
	$(VENV)/bin/govbot-bench load

bench-faults: setup model
	$(GOVBOT) train
	$(VENV)/bin/govbot-bench faults

clean:
	rm -rf var/models var/log
