# Every command a user or CI needs. `make demo` and `make test` do all the set-up themselves.
PYTHON ?= python3
# Spark uses $JAVA_HOME/bin/java when JAVA_HOME is set, else java on PATH: check the same one.
JAVA   ?= $(if $(JAVA_HOME),$(JAVA_HOME)/bin/java,java)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
LOCAL  := .local
# Test files run on this many workers, each with its own Spark session; a file stays on one worker (its
# module fixtures are built once). 2 suits a 2-core laptop; each worker's JVM takes up to ~2.5 GiB. Files go
# out heaviest first, in the order tests/conftest.py gives them, not xdist's order by number of tests.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: help install demo test test-fast test-thorough lint bench bench-aged clean check-prereqs databricks-cli

help:
	@echo "make demo   - install, copy the sample CSVs into $(LOCAL)/landing, run the job locally, show the target"
	@echo "make test   - install and run the whole test suite (what CI runs)"
	@echo "make test-fast     - the suite without the slow (subprocess, property, benchmark) tests"
	@echo "make test-thorough - the property test with 50 examples"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (CI size; see benchmarks/README.md for the big sizes)"
	@echo "make bench-aged - merge time on an aged target: as it is, after OPTIMIZE, after ZORDER"

check-prereqs:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	@# Java 17 to 21, as Spark 4.0 supports (src/order_tracking/local/prereqs.py, standard library only)
	@PYTHONPATH=src $(PYTHON) -m order_tracking.local.prereqs "$(JAVA)"

$(STAMP): requirements-dev.txt pyproject.toml
	@$(MAKE) --no-print-directory check-prereqs
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

demo: check-prereqs $(STAMP)
	@mkdir -p $(LOCAL)/landing
	cp src/order_tracking/samples/*.csv $(LOCAL)/landing/
	$(PY) -m order_tracking run --settle-seconds 0 --show

test: check-prereqs $(STAMP)
	$(PYTEST)

test-fast: check-prereqs $(STAMP)
	$(PYTEST) -m "not slow"

# The property test with 50 examples instead of the suite's 5 (about 25 s per example on 2 cores).
test-thorough: check-prereqs $(STAMP)
	ORDER_TRACKING_PROPERTY_EXAMPLES=50 $(PY) -m pytest tests/test_properties.py

lint: $(STAMP)
	$(PY) -m ruff check src tests notebooks benchmarks
	$(PY) -m ruff format --check src tests notebooks benchmarks

bench: check-prereqs $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) -m benchmarks.run --sizes ci

bench-aged: check-prereqs $(STAMP)
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) -m benchmarks.aged_target

# Optional: builds the Databricks CLI (needs Go) so the bundle validate/deploy tests run instead of skipping;
# those tests build their fake workspace (tests/fakeworkspace) with Go themselves.
databricks-cli: $(STAMP)
	scripts/install-databricks-cli.sh "$(CURDIR)/$(VENV)/bin"

clean:
	rm -rf $(LOCAL) .pytest_cache .ruff_cache
