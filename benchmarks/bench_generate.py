"""Generation speed and memory at several sizes, as a user sees them (a measurement, never a test).

For each size, a fresh process per run under ``/usr/bin/time -v`` with
``OMP_NUM_THREADS=1``, so every figure is whole-process -- interpreter start-up
and imports included -- as a user gets it:

* ``command``: ``fraudworld generate --out DIR --preset default --users N`` --
  every table, batch features and serving log included, streamed to Parquet,
  and the summary printed;
* ``generate``: ``simulator.generate(...)``, the same world built in memory
  (no Parquet, no summary).

Reported: wall seconds, CPU seconds (user + system, all threads: how much of the
second core was used, and what a busy machine did to the wall time),
purchases/s (transactions over wall seconds) and the peak resident set size
(``Maximum resident set size``). Sizes are target transaction counts (``0.3M``,
``3M``, ``10M``, or plain integers); the default preset's user count is scaled to
reach them, from the transactions per user of one pilot shard. Wall times on a
shared machine vary from one minute to the next: ``--repeat`` reports the best
time and the largest peak, and the report starts with a reference (numpy
sorting ten million floats) to compare machines and moments by. The code
measured is the one ``python`` imports (set ``PYTHONPATH`` to measure another
checkout). Run with (``make bench``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_generate.py [--sizes 0.3M,3M,10M] [--seed 0] [--repeat 1]
        [--modes command,generate] [--json benchmarks/results/generate.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from reference import reference_seconds  # benchmarks/ is the script's folder, first on sys.path

os.environ["OMP_NUM_THREADS"] = "1"

IN_MEMORY = r"""
import sys, simulator
world = simulator.generate(simulator.preset("default").with_overrides(users=int(sys.argv[1])), seed=int(sys.argv[2]))
print(len(world.transactions))
"""
PILOT = r"""
import sys, simulator
from simulator.world import SHARD_SIZE

world = simulator.generate(simulator.preset("default").with_overrides(users=SHARD_SIZE), seed=int(sys.argv[1]))
print(len(world.transactions) / SHARD_SIZE)
"""


def parse_size(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1e3, "m": 1e6}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * scale)


def txns_per_user(seed: int) -> float:
    """Transactions per user of the default preset, from one pilot shard (in a subprocess)."""
    proc = subprocess.run([sys.executable, "-c", PILOT, str(seed)], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def timed(cmd: list[str]) -> dict:
    """Run ``cmd`` under ``/usr/bin/time -v``: wall and CPU seconds, peak RSS in MB, stdout."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{cmd} failed:\n{proc.stderr[-2000:]}")

    def field(name: str) -> str:
        return re.search(rf"{re.escape(name)}: (\S+)", proc.stderr).group(1)

    elapsed = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    return {"seconds": sum(float(x) * 60 ** i for i, x in enumerate(reversed(elapsed))),
            "cpu_seconds": float(field("User time (seconds)")) + float(field("System time (seconds)")),
            "peak_mb": int(field("Maximum resident set size (kbytes)")) / 1024, "stdout": proc.stdout}


def run(mode: str, users: int, seed: int) -> dict:
    """One whole-process run, with its transaction count."""
    if mode == "generate":
        r = timed([sys.executable, "-c", IN_MEMORY, str(users), str(seed)])
        return {**r, "transactions": int(r.pop("stdout").split()[-1])}
    out = Path(tempfile.mkdtemp(prefix="fraudworld-bench-")) / "world"
    script = Path(sys.executable).parent / "fraudworld"
    try:
        r = timed([str(script), "generate", "--out", str(out), "--preset", "default", "--users", str(users),
                   "--seed", str(seed)])
        r["transactions"] = json.loads((out / "manifest.json").read_text())["row_counts"]["transactions"]
        del r["stdout"]
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    return r


def measure(mode: str, users: int, seed: int, repeat: int) -> dict:
    runs = [run(mode, users, seed) for _ in range(repeat)]
    best = min(runs, key=lambda r: r["seconds"])
    return {**best, "peak_mb": max(r["peak_mb"] for r in runs)}


def table(title: str, rows: list[dict]) -> str:
    lines = [f"**{title}**", "",
             "| size | users | transactions | seconds | CPU s | transactions/s | peak MB | bytes/transaction |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        n = r["transactions"]
        lines.append(f"| {r['size']} | {r['users']:,} | {n:,} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} "
                     f"| {n / r['seconds']:,.0f} | {r['peak_mb']:,.0f} | {r['peak_mb'] * 2**20 / n:,.0f} |")
    return "\n".join(lines)


TITLES = {"command": "`fraudworld generate` (whole process: imports, every table to Parquet, the summary)",
          "generate": "`simulator.generate()` in memory (whole process)"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="0.3M,3M,10M", help="target transaction counts, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="runs per size and mode (best time, largest peak)")
    p.add_argument("--modes", default="command,generate", help="command and/or generate")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON here")
    args = p.parse_args(argv)
    per_user = txns_per_user(args.seed)
    reference = reference_seconds()
    print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1, seed {args.seed}, best of {args.repeat}; "
          f"{per_user:.1f} transactions per user (pilot); numpy sort of 1e7 floats {reference:.2f} s\n", flush=True)
    report = {"seed": args.seed, "repeat": args.repeat, "reference_sort_seconds": reference}
    for mode in args.modes.split(","):
        rows = []
        for size in args.sizes.split(","):
            users = max(10, round(parse_size(size) / per_user))
            r = measure(mode, users, args.seed, args.repeat)
            rows.append({"size": size.strip(), "users": users, **r})
            print(f"  {mode} {size}: {r['seconds']:.2f} s, {r['peak_mb']:.0f} MB", file=sys.stderr, flush=True)
        report[mode] = rows
        print(table(TITLES[mode], rows) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
