"""``fraudworld audit`` speed and memory, on the default world's naive training table.

A measurement, never a test: nothing here asserts a time. The table is
``training_table(load_world("default", 0), NAIVE)`` (the world generated into the cache first if
it is not there), written to Parquet in a temporary folder with its spec as TOML, at several sizes:
the earliest 25%, 50% and 100% of its rows by decision time (the spec unchanged). Then:

* ``command``: the whole command, ``python -m simulator.cli audit TABLE --spec SPEC --out DIR``,
  each run a fresh process under ``/usr/bin/time -v`` with ``OMP_NUM_THREADS=1``: wall seconds,
  whole-process peak memory, rows per second. The target is 30 s or less for the full table on a
  2-core machine.
* ``stages``: the same audit in this process, split: reading the Parquet file, checking the table
  against its spec, each family's checks (``run``'s ``progress`` callback marks where each
  starts), and rendering the HTML (the figures are drawn there), the JSON and the Markdown.

Wall times on a shared virtual machine vary by a third from one minute to the next, so each
measurement can be repeated (``--repeat``: the best time and the largest peak are reported), and
the report starts with a reference -- numpy sorting ten million floats -- to compare machines and
moments by.

Run with::

    OMP_NUM_THREADS=1 python benchmarks/bench_audit.py [--sizes 25,50,100] [--repeat N] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_lessons import environment, reference_seconds, timed  # noqa: E402  (the same conventions)

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0


# --- a TOML writer for the spec's flat shape ---------------------------------------------------------
# (tomli_w is not a dependency; the spec is scalars, arrays of scalars, and one level of tables)

def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise ValueError(f"{value!r}: the spec's times have no time zone")
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"{value!r}: not a TOML scalar or array this writer knows")


def to_toml(mapping: dict) -> str:
    """``mapping`` as TOML: scalars and arrays first, then each table (one level of sub-tables)."""
    lines, tables = [], []
    for key, value in mapping.items():
        (tables if isinstance(value, dict) else lines).append((key, value))
    out = [f"{_key(k)} = {_value(v)}" for k, v in lines]
    for key, table in tables:
        scalars = {k: v for k, v in table.items() if not isinstance(v, dict)}
        if scalars or not table:
            out += ["", f"[{_key(key)}]", *(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())]
        for sub, options in table.items():
            if isinstance(options, dict):
                out += ["", f"[{_key(key)}.{_key(sub)}]", *(f"{_key(k)} = {_value(v)}" for k, v in options.items())]
    return "\n".join(out) + "\n"


# --- the measurements ----------------------------------------------------------------------------

def make_tables(folder: Path, sizes: list[int]) -> tuple[dict[int, Path], Path, dict]:
    """The naive training table's earliest ``size`` percent of rows as Parquet files, and its spec."""
    import tomllib

    from simulator.audit.world_tables import training_table
    from simulator.cache import load_world
    from simulator.pipelines import NAIVE

    frame, spec = training_table(load_world("default", 0), NAIVE)
    text = to_toml(spec)
    assert tomllib.loads(text) == spec, "the TOML writer must round-trip the spec"
    spec_path = folder / "spec.toml"
    spec_path.write_text(text)
    frame = frame.sort_values(spec["decision_time"], kind="stable").reset_index(drop=True)
    paths = {}
    for size in sizes:
        part = frame.iloc[: round(len(frame) * size / 100)]
        paths[size] = folder / f"naive_{size}.parquet"
        part.to_parquet(paths[size], index=False)
    return paths, spec_path, {"rows": len(frame), "columns": len(frame.columns)}


def rows_of(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def command(paths: dict[int, Path], spec: Path, folder: Path, repeat: int) -> list[dict]:
    rows = []
    for size, path in paths.items():
        runs = []
        for i in range(repeat):
            out = folder / f"report_{size}_{i}"
            run = timed([sys.executable, "-m", "simulator.cli", "audit", str(path), "--spec", str(spec),
                         "--out", str(out), "--fail-on", "never"], environment())
            if run["returncode"] != 0:
                raise SystemExit(f"the audit of {path.name} failed ({run['returncode']}):\n{run['stderr'][-3000:]}")
            run["report_kb"] = sum(p.stat().st_size for p in out.iterdir()) / 1024
            runs.append(run)
        fastest = min(runs, key=lambda r: r["seconds"])
        n = rows_of(path)
        findings = json.loads((folder / f"report_{size}_0" / "report.json").read_text())["counts"]
        rows.append({"size": f"{size}%", "rows": n, "seconds": fastest["seconds"],
                     "peak_mb": max(r["peak_mb"] for r in runs), "rows_per_second": n / fastest["seconds"],
                     "report_kb": fastest["report_kb"], "findings": findings})
        print(f"  command, {size}%: {fastest['seconds']:.1f} s", file=sys.stderr, flush=True)
    return rows


def stages(path: Path, spec: Path, repeat: int) -> dict:
    """One in-process audit of ``path``, split into stages (the best of ``repeat`` for each)."""
    import simulator.audit as audit
    from simulator.audit.cli import read_table
    from simulator.audit.spec import check_table, load_spec

    best: dict[str, float] = {}
    for _ in range(repeat):
        times: dict[str, float] = {}
        t0 = time.perf_counter()
        frame = read_table(path)
        times["read_parquet"] = time.perf_counter() - t0
        checked_spec = load_spec(spec)
        t0 = time.perf_counter()
        check_table(frame, checked_spec)
        times["check_table"] = time.perf_counter() - t0
        marks: list[tuple[str, float]] = []
        t0 = time.perf_counter()
        report = audit.run(frame, checked_spec, progress=lambda name: marks.append((name, time.perf_counter())))
        end = time.perf_counter()
        times["run (total)"] = end - t0
        times["run: check_table"] = marks[0][1] - t0 if marks else float("nan")
        for (name, start), (_, stop) in zip(marks, [*marks[1:], ("end", end)]):
            times[f"run: {name}"] = stop - start
        for name, render in (("to_html (figures)", report.to_html), ("to_json", report.to_json),
                             ("to_markdown", report.to_markdown)):
            t0 = time.perf_counter()
            render()
            times[name] = time.perf_counter() - t0
        for key, seconds in times.items():
            best[key] = min(best.get(key, float("inf")), seconds)
        del frame, report
    return best


def markdown(report: dict) -> str:
    out = []
    if "command" in report:
        out += ["**`fraudworld audit` on the default world's naive training table** (whole process, "
                f"`--fail-on never`; target <= {TARGET_SECONDS:.0f} s for 100%)", "",
                "| rows | of the table | seconds | rows/s | peak MB | report KB | findings (high/medium/info) |",
                "|---:|---:|---:|---:|---:|---:|---|"]
        for r in report["command"]:
            f = r["findings"]
            out.append(f"| {r['rows']:,} | {r['size']} | {r['seconds']:.1f} | {r['rows_per_second']:,.0f} | "
                       f"{r['peak_mb']:,.0f} | {r['report_kb']:,.0f} | {f['high']}/{f['medium']}/{f['info']} |")
        out.append("")
    if "stages" in report:
        s = report["stages"]
        out += [f"**In-process stages, {report['stages_rows']:,} rows** (seconds; `run` split by its progress "
                "callback)", "", "| stage | seconds |", "|---|---:|"]
        out += [f"| {name} | {seconds:.2f} |" for name, seconds in s.items()]
        out.append("")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="25,50,100", help="percentages of the table's rows, earliest first "
                                                       "(default: %(default)s)")
    p.add_argument("--modes", default="command,stages", help="command and/or stages")
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement (best time, largest peak)")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON here")
    args = p.parse_args(argv)
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",")})
    except ValueError:
        p.error(f"--sizes: {args.sizes!r} is not allowed; expected percentages such as 25,50,100")
    if not sizes or not all(0 < s <= 100 for s in sizes):
        p.error(f"--sizes: {args.sizes!r} is not allowed; expected percentages from 1 to 100")
    modes = [m.strip() for m in args.modes.split(",")]
    unknown = [m for m in modes if m not in ("command", "stages")]
    if unknown:
        p.error(f"--modes: unknown mode {', '.join(unknown)}; allowed: command, stages")
    if args.repeat < 1:
        p.error(f"--repeat: {args.repeat} is not allowed; expected an integer >= 1")
    if not Path("/usr/bin/time").exists():
        p.error("/usr/bin/time is missing (Debian: apt-get install time)")
    os.environ.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    reference = reference_seconds()
    report: dict = {"reference_sort_seconds": reference, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="fraudworld-bench-audit-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        paths, spec, shape = make_tables(folder, sizes)
        report["table"] = {**shape, "build_seconds": time.perf_counter() - t0}
        print(f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1, best of {args.repeat}; reference: numpy sorts 10M floats "
              f"in {reference:.3f} s; the naive training table: {shape['rows']:,} rows x {shape['columns']} columns\n",
              flush=True)
        if "command" in modes:
            report["command"] = command(paths, spec, folder, args.repeat)
        if "stages" in modes:
            largest = paths[max(sizes)]
            report["stages"] = stages(largest, spec, args.repeat)
            report["stages_rows"] = rows_of(largest)
    print(markdown(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
