"""Lesson speed and memory: where each lesson's time goes, and what a participant waits for.

A measurement, never a test: nothing here asserts a time. Every run is a fresh process with
``OMP_NUM_THREADS=1``, on the default world (seed 0) already in the world cache (generated
first if it is not), and with an empty lesson-results cache (``FRAUDWORLD_RESULTS`` points at a
new temporary folder) unless said otherwise:

* ``stages``: each lesson's ``results(world)`` under cProfile, split into stages -- world
  load, training-table builds, production-table builds, cross-validation (its fits and its
  scoring), other fits, other scoring, and the rest (metrics, monitors, storing the results) -- then its
  figures drawn from those results (plotting). Under the profiler models are fitted one at
  a time in the main thread, so the stages add up to the work done; the ``results`` column
  is the same computation again in another process, without the profiler and with models
  fitted two at a time, as users run it: the wall time.
* ``notebooks``: each notebook under ``pytest --nbval-lax``, as ``make test`` runs it, one at
  a time under ``/usr/bin/time -v``: whole-process wall time and peak memory (the largest of
  pytest and the notebook's kernel), and, from the JUnit report, the seconds of the cells
  tagged ``solution`` -- the exercise's worked solution, any world it generates included.
* ``figures``: ``python -m simulator.figures`` into a temporary folder, whole process, three
  ways: nothing cached (``FRAUDWORLD_DATA`` empty: as after a fresh clone's install), the world
  cached, and the world and the lessons' results cached.

Wall times on a shared virtual machine vary by a third from one minute to the next, so each
measurement can be repeated (``--repeat``: the best time and the largest peak are reported),
and the report starts with a reference -- numpy sorting ten million floats -- to compare
machines and moments by.

Run with (``make bench-lessons``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_lessons.py [--modes stages,notebooks,figures] [--repeat N] [--lessons 4]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat

from reference import reference_seconds  # benchmarks/ is the script's folder, first on sys.path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = {"1": "time_travel", "2": "default_signalling", "3": "population_shift", "4": "design_that_time"}
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

STAGES_WORKER = r"""
import cProfile, json, pstats, sys, time
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from importlib import import_module
number, name, profile = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
t0 = time.perf_counter()
import simulator.model
from simulator.cache import load_world
from simulator import figures

lesson = import_module(f"simulator.lessons.{name}")
world = load_world("default", 0)
load = time.perf_counter() - t0
if profile:  # fit in this thread, one model at a time, so that the profiler sees every stage
    simulator.model.FIT_THREADS = 1
profiler = cProfile.Profile() if profile else None
t0 = time.perf_counter()
if profiler:
    profiler.enable()
results = lesson.results(world)  # computed: the results cache is an empty folder
if profiler:
    profiler.disable()
total = time.perf_counter() - t0
t0 = time.perf_counter()
for key, entry in figures.FIGURES.items():
    if key.startswith(f"0{number}_"):
        plt.close(entry.function(world))
plotting = time.perf_counter() - t0
out = {"world_load": load, "results": total, "plotting": plotting}
if profiler:
    stats = pstats.Stats(profiler).stats
    def cum(file, function, via=None):
        total = 0.0
        for (f, _, n), (_, _, _, ct, callers) in stats.items():
            if f.endswith(file) and n == function:
                total += ct if via is None else sum(v[3] for (_, _, cn), v in callers.items() if cn == via)
        return total
    cross_validation = cum("model.py", "in_background", via="_start_cross_validation")  # fits + scoring
    built_in_workers = cum("pipelines.py", "build_training_set", via="fitted")  # a table, not a fit
    out.update({
        "training_tables": cum("pipelines.py", "build_training_set"),
        "production_tables": cum("pipelines.py", "production_table"),
        "cross_validation": cross_validation,
        "other_fits_and_scoring": cum("model.py", "fitted") + cum("replay.py", "scored") - cross_validation
                                  - built_in_workers,
    })
    out["metrics_and_monitors"] = total - sum(out[k] for k in ("training_tables", "production_tables",
                                                                 "cross_validation", "other_fits_and_scoring"))
print(json.dumps(out))
"""

STAGE_COLUMNS = ("world_load", "training_tables", "production_tables", "cross_validation",
                 "other_fits_and_scoring", "metrics_and_monitors", "plotting")


def environment(**extra: str) -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", **extra)


def timed(cmd: list[str], env: dict) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall seconds, peak RSS in MB, stdout, exit code."""
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return {"seconds": seconds, "peak_mb": int(peak.group(1)) / 1024 if peak else float("nan"),
            "stdout": proc.stdout, "stderr": proc.stderr, "returncode": proc.returncode}


def warm_world() -> None:
    subprocess.run([sys.executable, "-c", "from simulator.cache import load_world; load_world('default', 0)"],
                   env=environment(), cwd=ROOT, check=True)


def best(runs: list[dict]) -> dict:
    """The fastest of repeated runs, with the largest peak memory seen in any of them."""
    fastest = min(runs, key=lambda r: r["seconds"])
    return {**fastest, "peak_mb": max(r.get("peak_mb", float("nan")) for r in runs)}


def stages(repeat: int) -> list[dict]:
    rows = []
    for number, name in LESSONS.items():
        runs = {}
        for profile in ("1", "0"):
            attempts = []
            for _ in range(repeat):
                with tempfile.TemporaryDirectory(prefix="fraudworld-results-") as results:
                    proc = subprocess.run([sys.executable, "-c", STAGES_WORKER, number, name, profile],
                                          env=environment(FRAUDWORLD_RESULTS=results), cwd=ROOT,
                                          capture_output=True, text=True, check=True)
                attempts.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            runs[profile] = min(attempts, key=lambda r: r["results"])
        row = {"lesson": f"{number} {name}", **{k: runs["1"].get(k) for k in STAGE_COLUMNS},
               "profiled_results": runs["1"]["results"], "results": runs["0"]["results"]}
        rows.append(row)
        print(f"  lesson {number}: results {row['results']:.1f} s", file=sys.stderr, flush=True)
    return rows


def solution_cells(path: Path) -> set[int]:
    """Indices (among code cells, as nbval numbers them) of the cells tagged ``solution``."""
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    return {i for i, c in enumerate(code) if "solution" in c.get("metadata", {}).get("tags", [])}


def notebook_run(path: Path) -> dict:
    """One run of a notebook under nbval, with an empty results cache."""
    with tempfile.TemporaryDirectory(prefix="fraudworld-results-") as tmp:
        report = Path(tmp) / "junit.xml"
        run = timed([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "--nbval-lax",
                     "-q", str(path.relative_to(ROOT)), f"--junitxml={report}"],
                    environment(FRAUDWORLD_RESULTS=str(Path(tmp) / "results")))
        cells = {int(m.group(1)): float(case.get("time", 0))
                 for case in ET.parse(report).iter("testcase")
                 if (m := re.search(r"Cell (\d+)", case.get("name", "")))}
    return {**run, "exercise_seconds": sum(t for i, t in cells.items() if i in solution_cells(path))}


def notebooks(repeat: int) -> list[dict]:
    rows = []
    for path in NOTEBOOKS:
        runs = [notebook_run(path) for _ in range(repeat)]
        run = best(runs)
        failed = any(r["returncode"] != 0 for r in runs)
        rows.append({"notebook": path.name, "seconds": run["seconds"], "peak_mb": run["peak_mb"],
                     "exercise_seconds": min(r["exercise_seconds"] for r in runs), "passed": not failed})
        print(f"  {path.name}: {run['seconds']:.1f} s{' FAILED' if failed else ''}", file=sys.stderr, flush=True)
    return rows


def figures(repeat: int) -> list[dict]:
    states = {"nothing cached (fresh clone, after the install)": [], "world cached": [],
              "world and lesson results cached": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="fraudworld-figures-") as tmp:
            command = [sys.executable, "-m", "simulator.figures", "--out", str(Path(tmp) / "figures")]
            fresh, cached, results = states.values()
            fresh.append(timed(command, environment(FRAUDWORLD_DATA=str(Path(tmp) / "data"))))
            cached.append(timed(command, environment(FRAUDWORLD_RESULTS=str(Path(tmp) / "results"))))
            results.append(timed(command, environment(FRAUDWORLD_RESULTS=str(Path(tmp) / "results"))))
    rows = [{"state": state, **best(runs)} for state, runs in states.items()]
    for row in rows:
        print(f"  figures, {row['state']}: {row['seconds']:.1f} s", file=sys.stderr, flush=True)
        row.pop("stdout"), row.pop("stderr")
    return rows


def markdown(report: dict) -> str:
    out = []
    if "stages" in report:
        out += ["**Lesson `results(world)` by stage** (seconds; stages under cProfile, `results` without it)", "",
                "| lesson | " + " | ".join(STAGE_COLUMNS) + " | results |",
                "|---|" + "---:|" * (len(STAGE_COLUMNS) + 1)]
        for r in report["stages"]:
            out.append(f"| {r['lesson']} | " + " | ".join(f"{r[k]:.1f}" for k in STAGE_COLUMNS)
                       + f" | {r['results']:.1f} |")
        out.append("")
    if "notebooks" in report:
        out += ["**Notebooks under `pytest --nbval-lax`** (whole process, one at a time)", "",
                "| notebook | seconds | exercise solution s | peak MB | passed |", "|---|---:|---:|---:|---|"]
        for r in report["notebooks"]:
            out.append(f"| {r['notebook']} | {r['seconds']:.1f} | {r['exercise_seconds']:.1f} | {r['peak_mb']:,.0f} "
                       f"| {'yes' if r['passed'] else 'NO'} |")
        out.append("")
    if "figures" in report:
        out += ["**`python -m simulator.figures`** (whole process)", "", "| state | seconds | peak MB |",
                "|---|---:|---:|"]
        for r in report["figures"]:
            out.append(f"| {r['state']} | {r['seconds']:.1f} | {r['peak_mb']:,.0f} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", default="stages,notebooks,figures", help="stages, notebooks and/or figures")
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement (best time, largest peak)")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON here")
    p.add_argument("--lessons", default=None, help="only these lessons' stages and notebooks, e.g. 4 or 0,4")
    args = p.parse_args(argv)
    if args.lessons is not None:
        chosen = {n.strip() for n in args.lessons.split(",")}
        unknown = sorted(chosen - {"0", *LESSONS})
        if unknown:
            p.error(f"--lessons: unknown lesson {', '.join(unknown)}; allowed: 0, {', '.join(LESSONS)}")
        for number in set(LESSONS) - chosen:
            del LESSONS[number]
        NOTEBOOKS[:] = [path for path in NOTEBOOKS if path.name[1] in chosen and path.name[0] == "0"]
    modes = [m.strip() for m in args.modes.split(",")]
    unknown = [m for m in modes if m not in ("stages", "notebooks", "figures")]
    if unknown:
        p.error(f"--modes: unknown mode {', '.join(unknown)}; allowed: stages, notebooks, figures")
    if args.repeat < 1:
        p.error(f"--repeat: {args.repeat} is not allowed; expected an integer >= 1")
    warm_world()
    reference = reference_seconds()
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1, default world seed 0 cached, best of {args.repeat}; "
          f"reference: numpy sorts 10M floats in {reference:.3f} s\n", flush=True)
    report = {mode: {"stages": stages, "notebooks": notebooks, "figures": figures}[mode](args.repeat)
              for mode in modes}
    report["reference_sort_seconds"] = reference
    print(markdown(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
