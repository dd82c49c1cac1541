# The two set-up commands: `make demo` and `make test`. Both create .venv and install on demand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export RMOPS_HOME ?= $(CURDIR)/.rmops
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Quiet, single-threaded tokenizers for the CPU demo and tests only: `ui` and `bench` keep the
# caller's setting (on a GPU host, scoring waits on a single-threaded tokenizer).
demo test: export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test browser-deps lint format ui bench reliability fuzz-native clean

install: $(STAMP)

# The C sources too: `pip install -e` compiles the native ingest lane in place.
$(STAMP): pyproject.toml setup.py feedback_ingest/*.c feedback_ingest/csrc/*.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: it must be the local CPU wheel, never the CUDA build.
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rmops demo

test: $(STAMP) browser-deps
	$(PY) -m pytest -q

# Debian's chromium for the browser tests (never `playwright install`: it downloads a browser).
# Installing needs root; otherwise the browser tests skip and say why.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
	    || echo "browser-deps: apt could not install chromium; browser tests will be skipped"; \
	  else echo "browser-deps: chromium missing and not root; browser tests will be skipped"; fi; }

# The Dagster UI (with the daemon: schedules and sensors run) and the MLflow UI on localhost.
ui: $(STAMP)
	$(VENV)/bin/rmops ui

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/ingest.py
	$(PY) bench/score.py

# Fault, hostile-input and load suites -> one table (LOAD_SIZES=100000,1000000 for the 1M run).
LOAD_SIZES ?= 100000,300000
reliability: $(STAMP)
	$(PY) bench/reliability.py --load-sizes $(LOAD_SIZES)

# The compiled ingest modules built with AddressSanitizer + UBSan and fed mutated events.
FUZZ_ROUNDS ?= 3000
fuzz-native: $(STAMP)
	$(PY) tests/reliability/fuzz_native.py --sanitize --rounds $(FUZZ_ROUNDS)

clean:
	rm -rf $(VENV) .rmops build feedback_ingest/*.so
