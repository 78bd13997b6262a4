"""DuckDB's ASOF JOIN against the project's as-of join, on the same tables (a measurement, never a test).

The join is the training table's nightly join (``simulator.pipelines._nightly``): purchases
(``txn_id``, ``user_id``, ``event_time``) joined by ``user_id`` to the batch features' latest
snapshot with ``available_at <= event_time``, ties broken by ``run_at``, at most
``SNAPSHOT_MAX_AGE`` (25 h) old. The tables are synthetic, vectorised numpy, shaped like the
default world's: int64 user ids, ``datetime64[ns]`` times at millisecond resolution, about 96
purchases per user over 180 days in time order, and one snapshot per user on 61% of the days (a
nightly run at 23:55 published about 35 minutes later; int32 counts and a float64 mean with 12%
missing): 1.15 feature rows per purchase, as in the world.

Each size and join is a fresh process under ``/usr/bin/time -v`` (``OMP_NUM_THREADS=1``) that
builds the tables, then joins them:

* ``pandas``: ``simulator.asof.asof_join`` (pandas ``merge_asof`` on the keys);
* ``duckdb``: ``simulator.asof_duckdb.duckdb_asof_join``, DuckDB's ``ASOF LEFT JOIN`` on the same
  keys (the same frame back: a pandas frame in decision order);
* ``duckdb_sql``: the whole join in DuckDB, feature columns selected by the SQL and the rows put
  back in decision order (``ORDER BY``), fetched as an Arrow table, then converted to pandas;
* ``duckdb_parquet``: one big join out of core, as DuckDB can do it and pandas cannot: the tables
  written to Parquet first (by another process, not measured), then Parquet in, the same SQL, and
  Parquet out (in no particular order, with each row's ``txn_id``), DuckDB's memory limited to
  ``PARQUET_MEMORY`` and spilling to a database file beside the tables;
* ``tables``: building the tables alone -- the baseline each in-memory join's peak memory includes.

DuckDB runs with 2 threads (the machine's 2 cores) and its default memory limit; pandas uses one.
Reported: the whole process's wall seconds and peak resident set size (``Maximum resident set
size``), the join's own seconds and CPU seconds (measured in the process; the best of three for
sizes up to 1M), and decisions joined per second of the join. A size is skipped -- and reported as
skipped, with why -- when the previous size's run of that join, scaled by the rows, would take
over ``--max-seconds`` or ``--max-mb``; a run still going after twice ``--max-seconds`` is
stopped. Wall times on a shared machine vary from one minute to the next: the report starts with
a reference (numpy sorting ten million floats) to compare machines and moments by.

Run with (``make bench-asof``)::

    OMP_NUM_THREADS=1 python benchmarks/bench_asof.py [--sizes 0.3M,1M,3M,10M,30M,50M,100M]
        [--joins pandas,duckdb,duckdb_sql] [--json benchmarks/results/asof.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DAYS = 180
DECISIONS_PER_USER = 96  # the default world: 2.88M purchases of 30,000 users over 180 days
SNAPSHOT_SHARE = 0.61  # the share of user-days with a snapshot: 3.30M batch_features rows
THREADS = 2
PARQUET_MEMORY = "6GB"
JOINS = ("tables", "pandas", "duckdb", "duckdb_sql", "duckdb_parquet")
START = np.datetime64("2026-01-05", "ns")
MS = np.timedelta64(1_000_000, "ns")


def tables(n: int, seed: int = 0):
    """``n`` purchases and their users' nightly snapshots, shaped like the world's."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    users = max(1, round(n / DECISIONS_PER_USER))
    when = rng.integers(0, DAYS * 86_400_000, n)
    when.sort()
    decisions = pd.DataFrame({"txn_id": np.arange(n), "user_id": rng.integers(0, users, n),
                              "event_time": START + when * MS})
    del when
    active = [np.flatnonzero(rng.random(users) < SNAPSHOT_SHARE) for _ in range(DAYS)]
    user_id = np.concatenate(active)
    day = np.repeat(np.arange(DAYS), [len(a) for a in active])
    del active
    run_at = START + (day * 86_400_000 + (23 * 60 + 55) * 60_000) * MS
    latency = np.round(rng.lognormal(np.log(35 * 60_000), 0.5, DAYS)).astype(np.int64) * MS  # one per night
    m = len(user_id)
    average = rng.lognormal(np.log(35.0), 0.7, m)
    average[rng.random(m) < 0.12] = np.nan
    features = pd.DataFrame({"user_id": user_id, "run_at": run_at, "available_at": run_at + latency[day],
                             "user_chargeback_count_last_30_days": rng.poisson(0.01, m).astype(np.int32),
                             "avg_txn_amount_last_7_days": average,
                             "txn_count_last_7_days": rng.poisson(3.7, m).astype(np.int32)})
    return decisions, features


def sql_join(decisions, features, max_age):
    """The whole join in DuckDB: feature columns by SQL, decision order by ``ORDER BY``, as Arrow."""
    import pyarrow as pa

    from simulator.asof import sort_key
    from simulator.asof_duckdb import DECISIONS, FEATURES, LATEST, asof_sql, connect, latest_sql

    con = connect(THREADS)
    con.register(DECISIONS, pa.table({"e": decisions["user_id"].to_numpy(), "row": np.arange(len(decisions)),
                                      "t": decisions["event_time"].to_numpy().view(np.int64)}))
    values = [c for c in features.columns if c not in ("user_id", "available_at")]
    con.register(FEATURES, pa.table({"e": features["user_id"].to_numpy(), "k": sort_key(features["run_at"]),
                                     "t": features["available_at"].to_numpy().view(np.int64),
                                     **{c: features[c].to_numpy() for c in values}}))
    con.execute(f"CREATE TEMP TABLE {LATEST} AS {latest_sql(True, values)}")
    if con.sql(f"SELECT count(*) FROM {LATEST} WHERE n > 1").fetchall()[0][0]:
        raise ValueError("ties: the synthetic tables have none, and this measurement does not settle them")
    out = con.sql(asof_sql(max_age.value, [*values, "t"]) + " ORDER BY d.row").to_arrow_table()
    con.close()
    return out


def parquet_join(folder: Path, max_age) -> int:
    """The whole join in DuckDB from ``folder``'s Parquet tables to ``joined.parquet``: the matched rows."""
    import duckdb

    from simulator.asof_duckdb import DECISIONS, FEATURES, LATEST, asof_sql, latest_sql

    con = duckdb.connect(str(folder / "join.duckdb"), config={"threads": THREADS, "memory_limit": PARQUET_MEMORY})
    values = ["run_at", "user_chargeback_count_last_30_days", "avg_txn_amount_last_7_days", "txn_count_last_7_days"]
    con.execute(f"CREATE VIEW {DECISIONS} AS SELECT user_id AS e, epoch_ns(event_time) AS t, txn_id AS row "
                f"FROM read_parquet('{folder / 'decisions.parquet'}')")
    con.execute(f"CREATE VIEW {FEATURES} AS SELECT user_id AS e, epoch_ns(available_at) AS t, epoch_ns(run_at) AS k, "
                f"{', '.join(values)} FROM read_parquet('{folder / 'features.parquet'}')")
    con.execute(f"CREATE TABLE {LATEST} AS {latest_sql(True, values)}")
    if con.sql(f"SELECT count(*) FROM {LATEST} WHERE n > 1").fetchall()[0][0]:
        raise ValueError("ties: the synthetic tables have none, and this measurement does not settle them")
    out = folder / "joined.parquet"
    con.execute(f"COPY ({asof_sql(max_age.value, [*values, 't'])}) TO '{out}' (FORMAT parquet)")
    matched = con.sql(f"SELECT count(t) FROM read_parquet('{out}')").fetchall()[0][0]
    con.close()
    return matched


def worker(join: str, n: int, seed: int, repeat: int, folder: Path | None = None) -> None:
    """One process's measurement, printed as a JSON line."""
    import pandas as pd

    from simulator.asof import asof_join
    from simulator.asof_duckdb import duckdb_asof_join
    from simulator.pipelines import SNAPSHOT_MAX_AGE

    if join == "duckdb_parquet":
        t0, c0 = time.perf_counter(), time.process_time()
        matched = parquet_join(folder, SNAPSHOT_MAX_AGE)
        seconds = time.perf_counter() - t0
        print(json.dumps({"decisions": n, "features": _rows(folder / "features.parquet"), "join_seconds": seconds,
                          "first_join_seconds": seconds, "join_cpu_seconds": time.process_time() - c0,
                          "matched": matched, "memory_limit": PARQUET_MEMORY}))
        return
    t0 = time.perf_counter()
    decisions, features = tables(n, seed)
    out = {"decisions": len(decisions), "features": len(features), "tables_seconds": time.perf_counter() - t0}
    if join == "write":  # for duckdb_parquet: the tables as Parquet in ``folder``
        decisions.to_parquet(folder / "decisions.parquet", index=False)
        features.to_parquet(folder / "features.parquet", index=False)
    if join in ("tables", "write"):
        print(json.dumps(out))
        return
    kwargs = dict(by="user_id", decision_time="event_time", tie_breaker="run_at", max_age=SNAPSHOT_MAX_AGE)
    runs = []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        if join == "pandas":
            result = asof_join(decisions, features, **kwargs)
        elif join == "duckdb":
            result = duckdb_asof_join(decisions, features, threads=THREADS, **kwargs)
        else:
            arrow = sql_join(decisions, features, SNAPSHOT_MAX_AGE)
            out["to_arrow_seconds"] = time.perf_counter() - t0
            result = arrow.to_pandas()
            del arrow
            result["t"] = pd.to_datetime(result["t"].to_numpy(), unit="ns")
        runs.append((time.perf_counter() - t0, time.process_time() - c0))
        matched = int(result["t" if join == "duckdb_sql" else "available_at"].notna().sum())
        del result
    out.update(join_seconds=min(r[0] for r in runs), first_join_seconds=runs[0][0],
               join_cpu_seconds=min(runs)[1], matched=matched)
    print(json.dumps(out))


def _rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def parse_size(text: str) -> int:
    text = text.strip().lower()
    return int(float(text.rstrip("km")) * {"k": 1e3, "m": 1e6}.get(text[-1:], 1))


def measure(join: str, size: str, seed: int, timeout: float) -> dict:
    from bench_lessons import environment, timed

    n = parse_size(size)
    repeat = 3 if n <= 1_000_000 and join not in ("tables", "duckdb_parquet") else 1
    cmd = [sys.executable, __file__, "--worker", join, str(n), str(seed), str(repeat)]
    with tempfile.TemporaryDirectory(prefix="fraudworld-bench-asof-") as folder:
        if join == "duckdb_parquet":
            cmd.append(folder)
            subprocess.run([*cmd[:3], "write", *cmd[4:]], env=environment(), check=True, capture_output=True)
        run = timed(["timeout", str(round(timeout)), *cmd], environment())
    if run["returncode"] == 124:
        return {"join": join, "size": size, "skipped": f"stopped after {timeout:.0f} s"}
    if run["returncode"]:
        return {"join": join, "size": size, "skipped": f"failed ({run['returncode']}): {run['stderr'][-500:]}"}
    r = json.loads(run["stdout"].strip().splitlines()[-1])
    if "join_seconds" in r:
        r["rows_per_second"] = r["decisions"] / r["join_seconds"]
    return {"join": join, "size": size, "seconds": run["seconds"], "peak_mb": run["peak_mb"], **r}


def markdown(rows: list[dict]) -> str:
    out = ["| join | size | decisions | features | wall s | join s | join CPU s | decisions/s | peak MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['join']} | {r['size']} | | | skipped: {r['skipped']} | | | | |")
            continue
        join = (f"{r['join_seconds']:.2f} | {r['join_cpu_seconds']:.2f} | {r['rows_per_second']:,.0f}"
                if "join_seconds" in r else f"({r['tables_seconds']:.2f} to build) | | ")
        out.append(f"| {r['join']} | {r['size']} | {r['decisions']:,} | {r['features']:,} | {r['seconds']:.1f} | "
                   f"{join} | {r['peak_mb']:,.0f} |")
    return "\n".join(out)


def main(argv=None) -> None:
    if argv is None and sys.argv[1:2] == ["--worker"]:
        join, n, seed, repeat = sys.argv[2], *map(int, sys.argv[3:6])
        return worker(join, n, seed, repeat, Path(sys.argv[6]) if len(sys.argv) > 6 else None)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reference import reference_seconds

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="0.3M,1M,3M,10M,30M,50M,100M", help="decision counts, comma-separated")
    p.add_argument("--joins", default=",".join(JOINS), help=f"any of {', '.join(JOINS)}")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=300.0, help="skip a size predicted to take longer")
    p.add_argument("--max-mb", type=float, default=16_000.0, help="skip a size predicted to need more memory")
    p.add_argument("--json", type=Path, default=None, help="also write the measurements as JSON here")
    args = p.parse_args(argv)
    joins = [j.strip() for j in args.joins.split(",")]
    if unknown := [j for j in joins if j not in JOINS]:
        p.error(f"--joins: unknown join {', '.join(unknown)}; allowed: {', '.join(JOINS)}")
    try:
        sizes = sorted((s.strip() for s in args.sizes.split(",")), key=parse_size)
    except ValueError:
        p.error(f"--sizes: {args.sizes!r} is not allowed; expected counts such as 0.3M,1M,10M")
    os.environ["OMP_NUM_THREADS"] = "1"
    reference = reference_seconds()
    print(f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}), OMP_NUM_THREADS=1, DuckDB threads "
          f"{THREADS}; reference: numpy sorts 10M floats in {reference:.3f} s\n", flush=True)
    report = {"reference_sort_seconds": reference, "cpus": os.cpu_count(), "duckdb_threads": THREADS,
              "seed": args.seed, "max_seconds": args.max_seconds, "max_mb": args.max_mb,
              "load_average_at_start": os.getloadavg(), "runs": []}
    for join in joins:
        last = None
        for size in sizes:
            if last is not None and "skipped" in last:
                report["runs"].append({"join": join, "size": size, "skipped": f"{last['size']} was not measured"})
                continue
            if last is not None:
                scale = parse_size(size) / parse_size(last["size"])
                seconds, mb = last["seconds"] * scale, last["peak_mb"] * scale
                if seconds > args.max_seconds or mb > args.max_mb:
                    report["runs"].append({"join": join, "size": size, "skipped": (
                        f"predicted {seconds:.0f} s, {mb:,.0f} MB from {last['size']} "
                        f"(limits {args.max_seconds:.0f} s, {args.max_mb:,.0f} MB)")})
                    continue
            r = measure(join, size, args.seed, 2 * args.max_seconds)
            report["runs"].append(r)
            last = r
            print(f"  {join} {size}: " + (r.get("skipped") or f"{r['seconds']:.1f} s, {r['peak_mb']:,.0f} MB"),
                  file=sys.stderr, flush=True)
            if args.json:  # after every run: a long benchmark stopped part-way keeps what it measured
                args.json.write_text(json.dumps(report, indent=2) + "\n")
    report["load_average_at_end"] = os.getloadavg()
    print(markdown(report["runs"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
