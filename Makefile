# The two set-up commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test soak docs system-deps venv test-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

venv: $(PY)
	$(PY) -m pip install -q -e . ./legacy

test-venv: $(PY)
	$(PY) -m pip install -q -e '.[test]' ./legacy

demo: venv
	$(PY) -m kernel.demo

system-deps:
	bash .ci/system-deps.sh

# The user guide, built with warnings as errors (make test checks it too).
docs: test-venv
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

test: system-deps test-venv docs
	$(PY) -m pytest -q tests

# The long fault tests, ten times larger than in `make test`.
soak: test-venv
	KERNEL_SOAK_SCALE=10 $(PY) -m pytest -q -m slow tests
