# The two commands (see README): `make course` runs the series, `make test` checks it; `make` alone lists
# every target. Each target creates .venv when it is missing and installs the package with what it needs.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# The unit tests and notebooks never touch the network; the quick profile is what CI checks, on the
# CPU (the notebooks' checked outputs come from a CPU run).
export COURSE_PROFILE ?= quick

.DEFAULT_GOAL := help
.PHONY: help course site test lint unit nbval browser notebooks solutions lab repo-links bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python >= 3.10 is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[notebooks,site,test]'
	@touch $(STAMP)

## help: list every target with what it does (also what a bare `make` prints)
help:
	@awk '/^## / { sub(/^## /, ""); split($$0, part, ": "); \
	  printf "  make %-11s %s\n", part[1], substr($$0, length(part[1]) + 3) }' $(MAKEFILE_LIST)

## course: execute every notebook headless, in order, into build/ (executed .ipynb + HTML)
course: $(STAMP)
	$(PY) tools/run_notebooks.py --out build $(NOTEBOOKS)

## site: the course as a website in build/site/ from the committed notebooks (no re-run; works offline)
site: $(STAMP)
	$(PY) tools/build_site.py --out build/site

## test: ruff, the unit tests, the site in headless Chromium, and nbval over the notebooks
test: $(STAMP) lint browser
	COURSE_DEVICE=cpu $(PY) -m pytest tests --nbval-lax notebooks

## lint: ruff over the package, tests, notebooks, benchmarks and tools
lint: $(STAMP)
	$(PY) -m ruff check course_utils tests notebooks benchmarks tools

## unit: the unit tests only (tests/)
unit: $(STAMP)
	COURSE_DEVICE=cpu $(PY) -m pytest tests

## nbval: the notebooks' checked outputs only (nbval, lax mode)
nbval: $(STAMP)
	COURSE_DEVICE=cpu $(PY) -m pytest --nbval-lax notebooks

## browser: install Debian's chromium and chromium-driver when missing (for the site's browser test)
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "No apt-get here: install Chromium and chromedriver to run tests/test_site.py (skipped without)"; fi

## notebooks: re-run every notebook in place so the committed outputs are a fresh quick-profile CPU run
notebooks: $(STAMP) repo-links
	COURSE_DEVICE=cpu $(PY) tools/run_notebooks.py --inplace $(NOTEBOOKS)

## solutions: run every notebook with each exercise's reference solution filled in, into build/solutions/
solutions: $(STAMP)
	COURSE_DEVICE=cpu $(PY) tools/run_notebooks.py --solutions --out build/solutions $(NOTEBOOKS)

## repo-links: write pyproject.toml's [tool.course] into every notebook's badge, setup cell and metadata
repo-links: $(STAMP)
	$(PY) tools/repo_links.py

## lab: open the notebooks in JupyterLab
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

## bench: the data-pipeline and training-step benchmarks
bench: $(STAMP)
	$(PY) benchmarks/data_pipeline.py
	$(PY) benchmarks/train_step.py

## clean: remove build/ and the tools' caches
clean:
	rm -rf build .pytest_cache .ruff_cache
