"""Generation speed and memory at several sizes (a measurement, never a test).

For each size, in a fresh subprocess per run (so memory is honest and runs do
not share caches):

* ``write_world``: the end-to-end job -- generate every table, batch features
  and serving log included, and stream them to Parquet -- wall time,
  transactions/s and peak memory;
* ``generate()``: the same world built in memory (no Parquet).

Peak memory is the process's peak resident set size (``ru_maxrss``, which
counts numpy and Arrow buffers that tracemalloc misses) minus the peak RSS of
the same interpreter right after importing the package, numpy, pandas and
pyarrow: the memory the job itself needed. (This process imports nothing
heavy: a child starts with its parent's peak RSS.) "bytes/tx" divides it by
the number of transactions. "CPU s" is user + system CPU time of the process,
all threads: wall time on an idle machine is what counts; CPU time shows how
much of the second core was used, and what a busy machine did to the wall time.

Sizes are target transaction counts (``0.3M``, ``3M``, ``10M``, or plain
integers); the user count of the default preset is scaled to reach them, using
the transactions per user of one pilot shard. Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_generate.py [--sizes 0.3M,3M,10M] [--seed 0] [--repeat 1]
        [--modes write_world,generate] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

os.environ["OMP_NUM_THREADS"] = "1"

WORKER = r"""
import json, os, resource, shutil, sys, tempfile, time
mode, users, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
import numpy, pandas, pyarrow, pyarrow.parquet  # noqa: F401  (part of the baseline)
import simulator, simulator.world
from simulator.storage import write_world
if os.environ.get("BENCH_SHARD_THREADS"):
    simulator.world.SHARD_THREADS = int(os.environ["BENCH_SHARD_THREADS"])
config = simulator.preset("default").with_overrides(users=users)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0 = cpu()
out = tempfile.mkdtemp(prefix="fraudworld-bench-")
try:
    t0 = time.perf_counter()
    if mode == "write_world":
        write_world(out, config, seed=seed, force=True)
        seconds = time.perf_counter() - t0
        n = json.load(open(os.path.join(out, "manifest.json")))["row_counts"]["transactions"]
    else:
        world = simulator.generate(config, seed=seed)
        seconds = time.perf_counter() - t0
        n = len(world.transactions)
    cpu_seconds = cpu() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
finally:
    shutil.rmtree(out, ignore_errors=True)
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "transactions": n, "peak_kb": peak, "base_kb": base}))
"""


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def run(mode: str, users: int, seed: int, threads: int | None) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", BENCH_SHARD_THREADS=str(threads or ""))
    proc = subprocess.run([sys.executable, "-c", WORKER, mode, str(users), str(seed)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


PILOT = r"""
import simulator
from simulator.world import SHARD_SIZE
world = simulator.generate(simulator.preset("default").with_overrides(users=SHARD_SIZE), seed=int(__import__("sys").argv[1]))
print(len(world.transactions) / SHARD_SIZE)
"""


def txns_per_user(seed: int) -> float:
    """Transactions per user of the default preset, from one pilot shard.

    In a subprocess: a child inherits its parent's peak RSS at fork, so this
    process stays small.
    """
    proc = subprocess.run([sys.executable, "-c", PILOT, str(seed)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    return float(proc.stdout.strip().splitlines()[-1])


def measure(mode: str, users: int, seed: int, repeat: int, threads: int | None) -> dict:
    runs = [run(mode, users, seed, threads) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    peak_mb = max((r["peak_kb"] - r["base_kb"]) for r in runs) / 1024
    return {"seconds": best["seconds"], "cpu_seconds": min(r["cpu_seconds"] for r in runs),
            "transactions": best["transactions"], "peak_mb": peak_mb}


def table(title: str, rows: list[tuple[str, int, dict]]) -> str:
    lines = [f"**{title}**", "",
             "| size | users | transactions | seconds | CPU s | tx/s | peak MB | bytes/tx |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for size, users, r in rows:
        n = r["transactions"]
        lines.append(f"| {size} | {users:,} | {n:,} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} "
                     f"| {n / r['seconds']:,.0f} "
                     f"| {r['peak_mb']:,.0f} | {r['peak_mb'] * 2**20 / n:,.0f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="0.3M,3M,10M", help="target transaction counts, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="runs per size and mode (best time, largest peak)")
    p.add_argument("--modes", default="write_world,generate", help="write_world and/or generate")
    p.add_argument("--threads", type=int, default=None,
                   help="shards generated at a time (default: the package's simulator.world.SHARD_THREADS)")
    args = p.parse_args(argv)
    per_user = txns_per_user(args.seed)
    sizes = [(s.strip(), max(10, round(parse_size(s) / per_user))) for s in args.sizes.split(",")]
    threads = args.threads or "default"
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1, shard threads {threads}, seed {args.seed}, best of {args.repeat}; "
          f"{per_user:.1f} transactions per user (pilot)\n", flush=True)
    titles = {"write_world": "write_world (generate + batch features + serving log + Parquet)",
              "generate": "generate() in memory"}
    for mode in args.modes.split(","):
        rows = []
        for size, users in sizes:
            rows.append((size, users, measure(mode, users, args.seed, args.repeat, args.threads)))
            print(f"  {mode} {size}: {rows[-1][2]['seconds']:.2f} s", file=sys.stderr, flush=True)
        print(table(titles[mode], rows) + "\n", flush=True)


if __name__ == "__main__":
    main()
