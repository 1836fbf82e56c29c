# Plain entry points. `make run` and `make test` create the environment when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
NB     ?= notebooks

.PHONY: setup run test test-unit test-browser lab prefetch benchmarks sync clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-oracles: $(VENV)/.installed requirements-oracles.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-oracles.txt
	touch $@

setup: $(VENV)/.installed          ## create .venv and install the pinned versions

run: setup                         ## execute every notebook (auto profile) into build/
	$(PY) tools/run_notebooks.py

test: setup $(VENV)/.installed-oracles ## unit + hygiene tests, every notebook under nbval (smoke)
	NB_PROFILE=smoke $(PY) -m pytest

test-unit: setup $(VENV)/.installed-oracles ## only the fast unit and hygiene tests
	$(PY) -m pytest tests

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

test-browser: $(VENV)/.installed-test  ## every notebook in JupyterLab in headless Chromium (needs chromium)
	NB_PROFILE=smoke $(PY) -m pytest -m browser tests/test_browser.py -s

lab: setup                         ## open JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab $(NB)

prefetch: setup                    ## download datasets and weights into data/
	$(PY) -m helpers.plumbing.prefetch

benchmarks: setup                  ## speed figures (see benchmarks/)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

sync:                              ## badge + bootstrap cell + strip outputs in every notebook
	$(PY) tools/sync_notebooks.py

clean:
	rm -rf build

.PHONY: compat
compat:                            ## tests + smoke notebooks on an older, Colab-like stack in .venv-compat
	bash tools/check_compat.sh
