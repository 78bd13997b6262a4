# Two commands on a fresh machine: `make figures` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# scikit-learn's OpenMP threads are pathologically slow on small 2-core machines.
export OMP_NUM_THREADS := 1
export MPLBACKEND := Agg

UV_VERSION := 0.13.9
# One lock for every platform (laptops run macOS and Windows too), for the Python the project targets.
LOCK_FLAGS := --universal --python-version 3.11

.PHONY: figures test student guide book workshop-env lock bench bench-lessons bench-audit bench-scale bench-asof clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Tests, figures and the book run on the exact versions of requirements/test.txt (`make lock`).
$(VENV)/.installed: pyproject.toml requirements/test.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements/test.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

## Set up a participant's laptop: the versions CI tested (requirements/workshop.txt), then `fraudworld doctor`.
workshop-env: | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements/workshop.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/fraudworld doctor

## Re-resolve both lock files from pyproject.toml's ranges to the newest releases with uv (needs the
## network; run `make test` on the result, then commit it).
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile --quiet --upgrade pyproject.toml --extra dev --extra book --extra scale $(LOCK_FLAGS) \
		-o requirements/test.txt
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev $(LOCK_FLAGS) -c requirements/test.txt \
		-o requirements/workshop.txt

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

## Build the book, a static HTML site of the lessons (build/book/_build/html/), running every notebook afresh.
book: $(VENV)/.installed
	$(BIN)/python -m simulator.book

## Measure generation speed and memory at several sizes.
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_generate.py --json benchmarks/results/generate.json

## Measure each lesson by stage, each notebook's wall time and peak memory, and the figures command.
bench-lessons: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_lessons.py --json benchmarks/results/lessons.json

## Measure `fraudworld audit` on the default world's naive training table at several sizes.
bench-audit: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_audit.py --json benchmarks/results/audit.json

## Time DuckDB's ASOF JOIN against the project's as-of join (simulator.asof) at 0.3M to 100M decisions.
bench-asof: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_asof.py --json benchmarks/results/asof.json

## Measure generation on Dask: strong and weak scaling, memory per worker, a 50M-purchase world.
bench-scale: $(VENV)/.installed
	$(BIN)/python benchmarks/bench_scale.py --json benchmarks/results/scale.json --plot benchmarks/results/scale.png

clean:
	rm -rf data/ .pytest_cache
