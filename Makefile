# The two commands users need: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Users with their own torch build keep it; this pin is the build that lies on the dev/CI machines.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test install data docs clean-demo

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch, torchvision" 2>/dev/null || $(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev,extras]"
	touch $@

install: $(VENV)/.installed

data: install
	$(PY) datasets/prepare.py demo

demo: data
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q -p no:cacheprovider --durations=10 tests

docs: install
	$(PY) scripts/update_readme_options.py

clean-demo:
	rm -rf experiments/demo* datasets/demo
