# `make repro` runs the pipeline, `make test` runs the tests; both create .venv first if needed.
# EXTRAS=gpu installs tensorflow[and-cuda] instead of the CPU wheels; EXTRAS=jax-gpu, JAX for
# NVIDIA GPUs and tensorflow-cpu (train.backend: jax, docs/backends.md).
PYTHON ?= python3
VENV ?= .venv
EXTRAS ?= cpu

export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: repro small push queue study compare test lint lock venv clean-venv demo

venv: $(VENV)/.installed

# Every package at the exact version in the lock file, then this project itself without
# resolving anything again: the environment CI tested, whenever and wherever it is installed.
# uv (the lock's version) installs it in a quarter of pip's time (docs/environment.md); pip
# does it where uv cannot. --compile-bytecode: the .pyc files are written once here, as pip does,
# so no process compiles TensorFlow's sources again where PYTHONDONTWRITEBYTECODE is set (6 s each).
UV = $(shell sed -n 's/^uv==//p' requirements-$(EXTRAS).lock)
$(VENV)/.installed: pyproject.toml requirements-$(EXTRAS).lock
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet uv==$(UV) \
		&& $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python \
			-r requirements-$(EXTRAS).lock \
		|| $(VENV)/bin/python -m pip install --quiet -r requirements-$(EXTRAS).lock
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

# Re-resolve the lock files after a change to pyproject.toml's pins (tests/test_lock.py fails
# until then). The versions already locked are kept wherever they still fit. Needs uv (a dev
# extra; or pip install uv).
UV_COMPILE = uv pip compile --quiet pyproject.toml --python-version 3.11 --extra dev --extra demo
lock:
	$(UV_COMPILE) --universal --extra cpu -o requirements-cpu.lock
	$(UV_COMPILE) --python-platform x86_64-manylinux_2_28 --extra gpu -o requirements-gpu.lock
	$(UV_COMPILE) --python-platform x86_64-manylinux_2_28 --extra jax-gpu -o requirements-jax-gpu.lock

repro: venv
	dvc repro

# The whole pipeline in about two minutes on 2 cores, as a DVC experiment: 2,000 digits per split,
# one epoch per candidate, a one-trial search and one epoch of final training, 200 non-digits of
# each kind for the detector's one epoch. Then checks that every declared output exists.
# CI runs it; `dvc exp show` lists it; `git checkout . && dvc checkout` goes back to your state.
SMALL_PARAMS = -S data.limit=2000 -S epochs=1 -S convnet.epochs=null \
	-S deep_convnet.epochs=null -S nas.max_trials=1 -S nas.trial_epochs=1 -S nas.epochs=1 \
	-S evaluate.latency_runs=5 -S reader.rows=200 -S reader.val_rows=40 -S reader.epochs=1 \
	-S reader.pair_epochs=1 -S reader.val_numbers=20 -S numbers.count=20 -S numbers.nondigits=20 \
	-S refusal.nondigits=200 -S refusal.val_nondigits=30 -S refusal.epochs=1
small: venv
	dvc exp run $(SMALL_PARAMS) $(if $(NAME),--name $(NAME))
	python .ci/check_outputs.py

# Share what you ran with the team through the default DVC remote (REMOTE= for another): the
# outputs and the run-cache, so another clone's `dvc repro --pull` or `dvc exp run --pull`
# restores each stage instead of training it. It is `dvc push --run-cache` plus the metrics' and
# plots' objects that DVC 3.67 leaves out of it (.ci/push_run_cache.py says why).
push: venv
	python .ci/push_run_cache.py $(if $(REMOTE),--remote $(REMOTE))

# Run the queued experiments (dvc exp run --queue ...) JOBS at a time, in the background. With
# more than one job, each TensorFlow process gets cores/JOBS intra-op threads (THREADS= to
# choose) and one inter-op thread, instead of threads for every core: 4 experiments as 2 jobs
# on 2 cores finished 12% sooner that way (bench/parallel_experiments.py). mnist-study starts
# its queue the same way (mnist_nas/study/runs.py).
JOBS ?= 2
THREADS ?=
queue: venv
	python -c 'import sys; from mnist_nas.study.runs import start_workers; \
		start_workers(int(sys.argv[1]), sys.argv[2] or None)' "$(JOBS)" "$(THREADS)"

# A study of studies/studies.yaml as DVC experiments, JOBS at a time (NAME=all: every study;
# mnist-study --list names them): metrics/studies/NAME.csv and NAME.png (docs/studies.md).
study: venv
	mnist-study $(NAME) --jobs $(JOBS)

# The experiments side by side in a 120-column terminal, by what they are chosen by: the params
# that differ, each model's validation accuracy and which model was exported, at 4 digits. The
# test-set figures (reported, never chosen by), the search's proxy score, the number reader's
# (metrics/reader.json), the numbers', hashes, dates and queue columns are left out:
# dvc exp diff and dvc metrics show have them all.
compare: venv
	dvc exp show --only-changed --precision 4 --no-pager \
		--drop 'Created|State|Executor|.*\.py$$|(data|models|metrics)/.*|.*\.test$$|test_.*|trial_.*|(separated|touching|digits|pairs|validation_numbers)\..*|(non)?digits_.*|threshold'

# A page to draw or upload digits and see what models/best reads, with a JSON API beside it
# (docs/demo.md): http://127.0.0.1:$(PORT). It serves on the loopback address only.
PORT ?= 7860
demo: venv
	mnist-demo --port $(PORT)

# The suite on TEST_WORKERS pytest-xdist workers, each test module on one worker (its fixtures
# built once), the longest first (tests/conftest.py): most of its time is single-threaded
# process startup and waiting, so two workers on 2 cores finish sooner than one
# (docs/benchmarks.md). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
XDIST = -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
test: venv
	python -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),$(XDIST))

lint: venv
	ruff check . && ruff format --check .

clean-venv:
	rm -rf $(VENV)
