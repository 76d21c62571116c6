# `make repro` runs the pipeline, `make test` runs the tests; both create .venv first if needed.
# EXTRAS=gpu installs tensorflow[and-cuda] instead of the CPU wheels.
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= cpu

export PATH := $(abspath $(VENV))/bin:$(PATH)
# Keep TensorFlow's C++ start-up chatter out of the logs.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: repro test lint venv clean-venv

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[$(EXTRAS),dev]"
	touch $@

repro: venv
	dvc repro

test: venv
	python -m pytest

lint: venv
	ruff check . && ruff format --check .

clean-venv:
	rm -rf $(VENV)
