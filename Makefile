# scorelab: `make demo` and `make test` do all the set-up on a fresh clone.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Small ops on 2 cores: busy-waiting OpenMP workers next to another busy process are slow.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup test reliability demo bench bench-mnist experiments docs notebooks playground playground-test clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[all,test,diffusers]"
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

# The lecture's notebooks, executed, with their outputs: runs/notebooks/*.ipynb (the stored
# notebooks/*.ipynb have none; python notebooks/build.py rewrites them from their cells)
notebooks: setup
	$(PY) notebooks/build.py --execute runs/notebooks

playground: setup
	$(PY) -m scorelab playground

# The playground in headless Chromium (Debian: apt-get install chromium chromium-driver);
# screenshots of each state go to runs/playground-test/
playground-test: setup
	PLAYGROUND_SCREENSHOTS=runs/playground-test $(PY) -m pytest -p no:cacheprovider tests/playground/test_browser.py

bench: setup
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/run.py

bench-mnist: setup
	$(PY) -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(PY) benchmarks/mnist_vs_diffusers.py --minutes $(or $(MINUTES),15)

clean:
	rm -rf $(VENV) runs
