# repcount: the two commands a new user types are `make demo` and `make test`.
# Everything else they need (the virtual environment, the Arm cross compiler, QEMU)
# is installed by `make setup`, which both depend on and which is quick when nothing
# has changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REPCOUNT := $(VENV)/bin/repcount
STAMP := $(VENV)/.repcount-installed

.PHONY: setup toolchain demo test test-fast lint fuzz-long bitexact-long bench models hil clean

setup: $(STAMP) toolchain

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade-strategy only-if-needed -e '.[dev]'
	touch $@

toolchain:
	@bash tools/setup-toolchain.sh

demo: setup
	bash tools/demo.sh

test: setup
	$(PY) -m ruff check host tests hil_tests tools
	$(PY) -m pytest -q tests hil_tests

lint: setup
	$(PY) -m ruff check host tests hil_tests tools

fuzz-long: setup
	$(PY) -m pytest -q tests/test_protocol_c.py -k fuzz --fuzz-iterations=20000000

bitexact-long: setup
	$(PY) -m pytest -q tests/test_native_bitexact.py --bitexact-models=5000

models: setup
	bash tools/train-shipped-models.sh

hil: setup
	$(PY) -m pytest hil_tests

bench: setup
	$(REPCOUNT) bench --out bench/results.json --markdown bench/results.md --readme README.md

clean:
	rm -rf build dist *.egg-info .pytest_cache
