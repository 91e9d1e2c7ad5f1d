# make run: set up .venv from the lock file (the pipeline's packages only) and run the default pipeline (dvc repro).
# make test: set up, lint (ruff, mypy), build the docs and run the test suite.   make docs: the docs site.   make bench: the benchmark (installs its peers).
VENV := .venv
# .installed-run: what the pipeline and the everyday commands need; .installed: also the extras (tests, docs,
# the PostgreSQL server, Ray, the team stack).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: setup run lint docs test test-quick coverage bench

# uv installs what requirements.lock pins, as pip would (bytecode compiled too), in a third of pip's time with an
# empty package cache and with a warm one (python bench/setup_seconds.py).
UV := $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(VENV)/bin/python -c requirements.lock

$(RUN_STAMP): pyproject.toml requirements.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -c requirements.lock uv
	$(UV) -e .
	touch $@

$(STAMP): $(RUN_STAMP)
	$(UV) -e '.[test,docs,server,cluster,team]'
	touch $@

setup: $(STAMP)

run: $(RUN_STAMP)
	dvc repro

lint: setup
	ruff check src tests bench docs
	mypy

docs: setup
	NO_MKDOCS_2_WARNING=1 mkdocs build --strict --quiet

# Two workers, each module on one of them (its module fixtures are set up once), the modules with the most slow
# tests first (tests/conftest.py). --emulations-early starts the golden test's two trainings under QEMU's emulated
# CPUs as the session begins, beside the rest (tests/golden.py). In a fresh clone on a 2-core Intel Xeon
# (AVX-512), 491 tests took 32 min 56 s on 2 idle cores at 5612068 (.ci/run in all: 34 min 58 s).
test: lint docs
	pytest -n 2 --dist loadfile --durations=30 --emulations-early

test-quick: setup
	pytest -n 2 --dist loadfile -m 'not slow'

# The suite under coverage.py ([tool.coverage] in pyproject.toml): the lines of src/mnistflow it runs, subprocesses
# included; htmlcov/index.html shows them file by file. The data folder is open to all users, as one test runs a
# command as another user. Coverage writes its own messages to the stderr of a process ended by a signal while it
# saves, which a test that asserts a clean stderr can catch: the report is made whatever the suite's result.
COVERAGE_DATA := $(CURDIR)/.coverage-data
coverage: export COVERAGE_FILE := $(COVERAGE_DATA)/coverage
coverage: setup
	rm -rf $(COVERAGE_DATA) && mkdir -m 1777 $(COVERAGE_DATA)
	-coverage run -m pytest -n 2 --dist loadfile -q
	coverage combine -q
	coverage html -q
	coverage report

PEERS := .venv-peers

$(PEERS)/.installed: bench/requirements.txt
	python3 -m venv $(PEERS)
	$(PEERS)/bin/pip install --quiet -r bench/requirements.txt
	touch $@

bench: setup $(PEERS)/.installed
	python bench/run.py --peers-python $(PEERS)/bin/python
