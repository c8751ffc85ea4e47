# The two commands (see README): `make course` runs the series, `make test` checks it.
# Each target creates .venv when it is missing and installs the package with what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# The unit tests and notebooks never touch the network; the quick profile is what CI checks, on the
# CPU (the notebooks' checked outputs come from a CPU run).
export COURSE_PROFILE ?= quick

.PHONY: course test lint unit nbval notebooks solutions lab repo-links bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[notebooks,test]'
	@touch $(STAMP)

## course: execute every notebook headless, in order, into build/ (executed .ipynb + HTML)
course: $(STAMP)
	$(PY) tools/run_notebooks.py --out build $(NOTEBOOKS)

## test: ruff, the unit tests, and nbval over the notebooks
test: $(STAMP) lint
	COURSE_DEVICE=cpu $(PY) -m pytest tests --nbval-lax notebooks

lint: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks benchmarks tools

unit: $(STAMP)
	COURSE_DEVICE=cpu $(PY) -m pytest tests

nbval: $(STAMP)
	COURSE_DEVICE=cpu $(PY) -m pytest --nbval-lax notebooks

## notebooks: re-run every notebook in place so the committed outputs are a fresh quick-profile CPU run
notebooks: $(STAMP) repo-links
	COURSE_DEVICE=cpu $(PY) tools/run_notebooks.py --inplace $(NOTEBOOKS)

## solutions: run every notebook with each exercise's reference solution filled in, into build/solutions/
## (never in place); fails as soon as one exercise's check does not pass
solutions: $(STAMP)
	COURSE_DEVICE=cpu $(PY) tools/run_notebooks.py --solutions --out build/solutions $(NOTEBOOKS)

## repo-links: write [tool.course] of pyproject.toml into every badge and Colab guard, and course_utils/published.py
repo-links: $(STAMP)
	$(PY) tools/repo_links.py

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

bench: $(STAMP)
	$(PY) benchmarks/data_pipeline.py
	$(PY) benchmarks/train_step.py

clean:
	rm -rf build .pytest_cache .ruff_cache
