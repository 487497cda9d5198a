# The two set-up commands (see README.md): `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Installs take the exact versions of requirements/lock.txt (the build of the
# editable install too: pip passes PIP_CONSTRAINT on to it).
LOCKED := PIP_CONSTRAINT=$(CURDIR)/requirements/lock.txt
LATEST := .venv-latest
LATEST_PY := $(LATEST)/bin/python
# kernel's runtime dependencies, by name, as setup.py declares them
RUNTIME_DEPS = $(shell $(LATEST_PY) -c "import re; from importlib.metadata import requires; \
	print(' '.join(re.split(r'[<>=!~;\[ ]', r)[0] for r in requires('kernel') if 'extra ==' not in r))")

.PHONY: demo test test-latest latest-venv lock soak docs system-deps venv test-venv

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(LOCKED) $(PY) -m pip install -q --upgrade pip

venv: $(PY)
	$(LOCKED) $(PY) -m pip install -q -e .

test-venv: $(PY)
	$(LOCKED) $(PY) -m pip install -q -e '.[test]'

demo: venv
	$(PY) -m kernel.demo

system-deps:
	bash .ci/system-deps.sh

# The user guide, built with warnings as errors (make test checks it too).
docs: test-venv
	$(PY) -m sphinx -W --keep-going -q -b html docs docs/_build/html

test: system-deps test-venv docs
	$(PY) -m pytest -q tests

# The suite against the newest release of every dependency, past setup.py's
# tested ranges, in a virtualenv of its own: drift is found on purpose.
test-latest: system-deps latest-venv
	$(LATEST_PY) -m pip install -q --upgrade $(RUNTIME_DEPS)
	$(LATEST_PY) -m pip freeze --all --exclude-editable
	$(LATEST_PY) -m sphinx -W --keep-going -q -b html docs $(LATEST)/docs-html
	$(LATEST_PY) -m pytest -q tests

latest-venv:
	$(PYTHON) -m venv --clear $(LATEST)
	$(LATEST_PY) -m pip install -q --upgrade pip setuptools
	$(LATEST_PY) -m pip install -q -e '.[test]'

# Rewrite requirements/lock.txt from the newest releases, once they pass and
# setup.py's ranges admit them.
lock: test-latest
	{ sed -n '/^#/p' requirements/lock.txt; \
	  $(LATEST_PY) -m pip freeze --all --exclude-editable | grep -v '^kernel'; } > requirements/lock.txt.new
	mv requirements/lock.txt.new requirements/lock.txt

# The long fault tests, ten times larger than in `make test`.
soak: test-venv
	KERNEL_SOAK_SCALE=10 $(PY) -m pytest -q -m slow tests
