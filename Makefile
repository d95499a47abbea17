# scorelab: `make demo` and `make test` do all the set-up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Small ops on 2 cores: busy-waiting OpenMP workers next to another busy process are slow.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup test reliability demo bench bench-mnist experiments docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[all,test]"
	touch $(STAMP)

test: setup
	$(PY) -m pytest -n 2 --dist loadfile

# Every random fault of tests/reliability 20 times (about 25 min on 2 cores); the counts table.
reliability: setup
	$(PY) benchmarks/reliability_counts.py --trials $(or $(TRIALS),20)

demo: setup
	$(PY) -m scorelab demo

experiments: setup
	$(PY) -m scorelab experiment --all

docs: setup
	$(PY) -m scorelab demo --out runs/docs/demo --quiet
	$(PY) -m scorelab experiment --all --out runs/docs/experiments
	$(PY) docs/figures.py runs/docs

bench: setup
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/run.py

bench-mnist: setup
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/mnist_vs_diffusers.py --minutes $(or $(MINUTES),15)

clean:
	rm -rf $(VENV) runs
