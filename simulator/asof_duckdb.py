"""The as-of join of :mod:`simulator.asof`, computed by DuckDB's ``ASOF JOIN`` (the ``scale`` extra).

:func:`duckdb_asof_join` takes :func:`simulator.asof.asof_join`'s arguments and returns the same
frame: DuckDB finds each decision's feature row, then the row is attached exactly as ``asof_join``
attaches it (same index, order, dtypes and missing values). Time semantics, and how each is made to
agree with ``asof_join`` (tests/test_asof_duckdb.py checks every one):

* Times reach DuckDB as int64 nanoseconds (any ``datetime64`` resolution converted first, as
  ``asof_join`` does), whatever timestamp type DuckDB would give the column: nothing is rounded.
* ``ASOF LEFT JOIN ... ON d.entity = f.entity AND d.t >= f.t`` takes the feature row with the
  greatest ``available_at <= t``: one published at exactly the decision time counts, as in
  ``asof_join``; no row gives NULL, attached as missing values.
* Ties. Among rows of one entity with the same ``available_at``, DuckDB's ASOF JOIN takes *any
  one*, not the latest ``tie_breaker`` (tests/test_asof_duckdb.py shows it). So ties are settled
  first: per (entity, ``available_at``) only the row of the largest ``tie_breaker`` is kept (a
  GROUP BY with ``arg_max``) -- the only one ``asof_join`` can ever pick -- and that is joined.
* ``max_age``. DuckDB's ASOF JOIN has no tolerance; a match older than ``max_age`` is dropped after
  the join, which is the same thing (the match is the entity's latest row, so no other row is younger).
* Rows sharing (entity, ``available_at``, ``tie_breaker``) are refused with ``asof_join``'s error.

Speed (``make bench-asof``, benchmarks/results/asof.json): in memory on 2 cores it is slower than
``asof_join`` at every size measured (0.3M to 50M decisions); what DuckDB adds is the join too big
for memory, Parquet to Parquet, in bounded memory.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .asof import attach, checked_inputs, duplicates_error, entity_keys, known_entities, sort_key

DECISIONS, FEATURES, LATEST = "__asof_decisions", "__asof_features", "__asof_latest"


def latest_sql(tie: bool, columns: list[str] | None = None) -> str:
    """One row per (entity, time) of view ``FEATURES``: the one of the largest ``k``, the only row of its
    (entity, time) an as-of join can match; ``n``, the rows it stands for.

    ``FEATURES`` has ``e``, the entity, ``t``, the time in int64 nanoseconds, ``pos``, its row's
    position, ``k``, the tie-breaker's sort key (only with ``tie``), and any ``columns`` to keep.
    """
    pick = "arg_max({0}, k)" if tie else "any_value({0})"
    quoted = [f'"{c}"' for c in columns or ["pos"]]
    kept = ", ".join(f"{pick.format(q)} AS {q}" for q in quoted)
    return f"SELECT e, t, {kept}, count(*) AS n FROM {FEATURES} GROUP BY e, t"


def duplicates_sql(tie: bool) -> str:
    """How many rows of ``FEATURES`` share (entity, time[, tie-breaker]) with another (refused)."""
    if not tie:
        return f"SELECT coalesce(sum(n - 1), 0) FROM {LATEST} WHERE n > 1"
    return (f"SELECT coalesce(sum(c - 1), 0) FROM (SELECT count(*) AS c FROM {FEATURES} "
            f"SEMI JOIN (SELECT e, t FROM {LATEST} WHERE n > 1) USING (e, t) GROUP BY e, t, k HAVING c > 1)")


def asof_sql(max_age_ns: int | None = None, columns: list[str] | None = None) -> str:
    """The ASOF LEFT JOIN of view ``DECISIONS`` (``e``, ``t``, ``row``) with table ``LATEST``.

    Gives each decision's ``row`` and either ``pos``, the matched feature row's position (-1: none),
    or, with ``columns``, those columns of it (NULL: none); in no particular order.
    """
    fresh = "f.t IS NOT NULL" if max_age_ns is None else f"d.t - f.t <= {int(max_age_ns)}"
    if columns is None:
        out = f"CASE WHEN {fresh} THEN f.pos ELSE -1 END AS pos"
    else:
        out = ", ".join(f'CASE WHEN {fresh} THEN f."{c}" END AS "{c}"' for c in columns)
    return f"SELECT d.row, {out} FROM {DECISIONS} d ASOF LEFT JOIN {LATEST} f ON d.e = f.e AND d.t >= f.t"


def connect(threads: int | None = None):
    """A fresh in-memory DuckDB connection (``threads``: DuckDB's worker threads; default all cores)."""
    import duckdb

    return duckdb.connect(config={} if threads is None else {"threads": threads})


def duckdb_asof_join(decisions: pd.DataFrame, features: pd.DataFrame, *, by: str, decision_time: str,
                     available_time: str = "available_at", tie_breaker: str | None = None,
                     max_age: pd.Timedelta | str | None = None, columns: list[str] | None = None,
                     connection=None, threads: int | None = None) -> pd.DataFrame:
    """:func:`simulator.asof.asof_join`, the match found by DuckDB: same arguments, same frame.

    ``connection``: a DuckDB connection to use (default: a fresh one with ``threads`` threads).
    """
    import pyarrow as pa

    left_t, right_t, wanted = checked_inputs(decisions, features, by, decision_time, available_time, columns)
    features, right_t = known_entities(features, right_t, by)
    left_by, right_by = entity_keys(decisions[by], features[by])
    left = {"e": left_by, "t": left_t.to_numpy().view(np.int64), "row": np.arange(len(decisions))}
    right = {"e": right_by, "t": right_t.to_numpy().view(np.int64), "pos": np.arange(len(features))}
    if tie_breaker:
        right["k"] = sort_key(features[tie_breaker])
    con = connection if connection is not None else connect(threads)
    try:
        con.register(DECISIONS, pa.table(left))
        con.register(FEATURES, pa.table(right))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {LATEST} AS {latest_sql(tie_breaker is not None)}")
        dup = con.sql(duplicates_sql(tie_breaker is not None)).fetchall()[0][0]
        if dup:
            raise duplicates_error(int(dup), by, [available_time] + ([tie_breaker] if tie_breaker else []))
        max_age_ns = None if max_age is None else pd.Timedelta(max_age).value
        found = con.sql(asof_sql(max_age_ns)).fetchnumpy()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {LATEST}")
        for name in (DECISIONS, FEATURES):
            con.unregister(name)
        if connection is None:
            con.close()
    position = np.empty(len(decisions), dtype=np.int64)
    position[found["row"]] = found["pos"]
    return attach(decisions, features, position, wanted, available_time, right_t)
