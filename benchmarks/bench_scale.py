"""Generation on Dask: strong and weak scaling, memory per worker, and one large world (a measurement, never a test).

Every run is a fresh driver process under ``/usr/bin/time -v`` (so its wall time
counts starting and stopping the cluster, as a user's command does) with
``OMP_NUM_THREADS=1``; it writes the default preset's world, scaled to a target
size, to a temporary directory with :func:`simulator.generation.write_world`
and reports:

* ``seconds``: the whole process; ``generate_seconds``: :func:`write_world` alone;
* purchases/s over each, and per worker;
* ``driver_peak_mb``: the driver's peak resident memory; ``worker_peak_mb``: each
  Dask worker process's own peak (``getrusage`` on the worker, via ``client.run``);
  for the local engine the driver is the only process.

Runs (``--runs``, default all):

* ``strong``: a fixed size (``--strong-size``, 10M) on the local engine (2 threads)
  and on Dask LocalClusters of 1 and 2 worker processes;
* ``weak``: ``--weak-size`` (5M) purchases per worker on 1 and 2 workers;
* ``large``: ``--large-size`` (50M) on 2 workers (memory per worker stays a few shards).

The machine has 2 cores: two workers plus the driver share them, so the
2-worker figures bound what a second core buys, not what a cluster of separate
machines would. Results go to ``--json`` and the plot to ``--plot``, drawn by
:func:`simulator.plots.scaling.generation_scaling`. Run with (``make bench-scale``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_scale.py --json benchmarks/results/scale.json \
        --plot benchmarks/results/scale.png
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench_generate import parse_size, timed, txns_per_user  # benchmarks/ is the script's folder
from reference import reference_seconds

os.environ["OMP_NUM_THREADS"] = "1"

DRIVER = r"""
import json, resource, sys, time
import simulator
from simulator.engines import open_engine
from simulator.generation import write_world

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

users, seed, engine, workers, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
config = simulator.preset("default").with_overrides(users=users)
with open_engine(engine, workers=workers) as e:
    start = time.perf_counter()
    write_world(out, config, seed=seed, engine=e)
    seconds = time.perf_counter() - start
    workers_mb = sorted(e.client.run(peak_mb).values()) if engine == "dask" else []
manifest = json.load(open(out + "/manifest.json"))
print(json.dumps({"generate_seconds": seconds, "driver_peak_mb": peak_mb(), "worker_peak_mb": workers_mb,
                  "transactions": manifest["row_counts"]["transactions"], "shards": manifest["shards"]}))
"""


def run(engine: str, workers: int, users: int, seed: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="fraudworld-scale-")) / "world"
    try:
        r = timed([sys.executable, "-c", DRIVER, str(users), str(seed), engine, str(workers), str(out)])
        r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
        r["disk_mb"] = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    n = r["transactions"]
    return {"engine": engine, "workers": workers, "users": users, **r, "rate": n / r["seconds"],
            "generate_rate": n / r["generate_seconds"], "rate_per_worker": n / r["generate_seconds"] / workers}


def plan(args) -> list[tuple[str, str, str, int, int]]:
    """(run, size label, engine, workers, target transactions) of each run asked for."""
    runs = []
    if "strong" in args.runs:
        runs += [("strong", args.strong_size, engine, w, parse_size(args.strong_size))
                 for engine, w in (("local", 2), ("dask", 1), ("dask", 2))]
    if "weak" in args.runs:
        runs += [("weak", f"{args.weak_size} x {w}", "dask", w, w * parse_size(args.weak_size)) for w in (1, 2)]
    if "large" in args.runs:
        runs.append(("large", args.large_size, "dask", 2, parse_size(args.large_size)))
    return runs


def table(rows: list[dict]) -> str:
    lines = ["| run | size | engine | workers | transactions | whole s | generate s | purchases/s | per worker/s "
             "| driver MB | worker MB (each) | disk MB |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        each = ", ".join(f"{m:,.0f}" for m in r["worker_peak_mb"]) or "-"
        lines.append(f"| {r['run']} | {r['size']} | {r['engine']} | {r['workers']} | {r['transactions']:,} "
                     f"| {r['seconds']:.1f} | {r['generate_seconds']:.1f} | {r['generate_rate']:,.0f} "
                     f"| {r['rate_per_worker']:,.0f} | {r['driver_peak_mb']:,.0f} | {each} | {r['disk_mb']:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", default="strong,weak,large", help="strong, weak and/or large")
    p.add_argument("--strong-size", default="10M")
    p.add_argument("--weak-size", default="5M", help="transactions per worker")
    p.add_argument("--large-size", default="50M")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None, help="save the scaling plot here (PNG)")
    p.add_argument("--replot", type=Path, default=None, metavar="JSON",
                   help="only draw --plot from a report written before")
    args = p.parse_args(argv)
    if args.replot:
        return plot(json.loads(args.replot.read_text()), args.plot)
    per_user = txns_per_user(args.seed)
    reference = reference_seconds()
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1, seed {args.seed}; {per_user:.1f} transactions per user "
          f"(pilot); numpy sort of 1e7 floats {reference:.2f} s\n", flush=True)
    rows = []
    for name, size, engine, workers, target in plan(args):
        r = run(engine, workers, max(10, round(target / per_user)), args.seed)
        rows.append({"run": name, "size": size, **r})
        print(f"  {name} {size} {engine} x{workers}: {r['seconds']:.1f} s, {r['generate_rate']:,.0f}/s",
              file=sys.stderr, flush=True)
    print(table(rows), flush=True)
    report = {"seed": args.seed, "reference_sort_seconds": reference, "cpus": os.cpu_count(), "runs": rows}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(report, args.plot)


def plot(report: dict, path: Path) -> None:
    from simulator.plots.scaling import generation_scaling
    generation_scaling(report).savefig(path, dpi=110, bbox_inches="tight")


if __name__ == "__main__":
    main()
