# Two commands on a fresh machine: `make figures` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# scikit-learn's OpenMP threads are pathologically slow on small 2-core machines.
export OMP_NUM_THREADS := 1
export MPLBACKEND := Agg

.PHONY: figures test student guide bench bench-lessons clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

## Regenerate every figure in figures/ (generates and caches the default world on first use).
figures: $(VENV)/.installed
	$(BIN)/python -m simulator.figures

## Run the test suite, notebooks included, on both cores (one worker per test module or notebook).
test: $(VENV)/.installed
	$(BIN)/python -m pytest -n 2 --dist loadscope

## Regenerate the workshop's student notebooks (workshop/student/) from notebooks/.
student: $(VENV)/.installed
	$(BIN)/python -m simulator.workshop student

## Regenerate the facilitator's guide (workshop/README.md) from workshop/agenda.toml.
guide: $(VENV)/.installed
	$(BIN)/python -m simulator.workshop guide

## Measure generation speed and memory at several sizes.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_generate.py

## Measure each lesson by stage, each notebook's wall time and peak memory, and the figures command.
bench-lessons: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_lessons.py --json benchmarks/results/lessons.json

clean:
	rm -rf data/ .pytest_cache
