# The two set-up commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test system-deps venv test-venv

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

test: system-deps test-venv
	$(PY) -m pytest -q tests
