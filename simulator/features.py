"""Features as the two serving paths compute them: the nightly batch job and the online service.

Batch (``batch_features``): run ``d`` reads everything that *happened*
(transactions, by ``event_time``) or was *reported* (chargebacks, by
``reported_at``) up to its ``run_at``, and its snapshot becomes readable at
``available_at``. "Last N days" means the last N nightly partitions, i.e.
``(run_at[d-N], run_at[d]]``. There is a row for every user with a purchase
or a reported chargeback in the last 30 partitions.

Online (``serving_log``): at a purchase's decision time (its ``event_time``),
the service aggregates the user's *earlier* purchases in ``[t - w, t)``; the
purchase itself is never counted. An empty window gives an average of null and
a count of 0, both with status ``no_history``; a request that fails inside an
outage gives nulls with status ``unavailable``.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from .timebase import MS_PER_DAY, MS_PER_HOUR

STATUSES = ("ok", "no_history", "unavailable")

# name -> (aggregate, window in ms)
ONLINE_FEATURES = {
    "avg_txn_amount_last_7_days": ("mean", 7 * MS_PER_DAY),
    "txn_count_last_1h": ("count", MS_PER_HOUR),
    "txn_count_last_24h": ("count", MS_PER_DAY),
}
BATCH_FEATURES = (
    "user_chargeback_count_last_30_days",  # chargebacks *reported* in the last 30 partitions
    "avg_txn_amount_last_7_days",  # null when there was no purchase in the last 7
    "txn_count_last_7_days",
    "txn_count_last_30_days",
)


STATUS_DTYPE = pd.CategoricalDtype(list(STATUSES))


def status_categorical(codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8, copy=False), dtype=STATUS_DTYPE)


def window_aggregates(entity: np.ndarray, t: np.ndarray, amount: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Online features for rows sorted by ``(entity, t)``, over each row's earlier rows.

    Returns ``name -> (value, window_count)``; ``value`` is NaN for an average
    over an empty window. Rows with equal ``(entity, t)`` count as earlier in
    their sorted order.
    """
    entity = np.asarray(entity, np.int64)
    t = np.asarray(t, np.int64)
    span = int(t.max() - t.min() + 8 * MS_PER_DAY) if len(t) else 1
    if len(t) and (int(entity.max()) + 1) * span >= np.iinfo(np.int64).max:
        raise OverflowError("window_aggregates: too many entities for one call; split by shard")
    key = entity * span + (t - (t.min() if len(t) else 0))
    if np.any(key[1:] < key[:-1]):
        raise ValueError("window_aggregates: rows must be sorted by (entity, t)")
    idx = np.arange(len(key))
    csum = np.concatenate([[0.0], np.cumsum(amount)])
    bound = (int(np.abs(entity).max()) + 1) * span if len(t) else 0  # |key| <= bound
    packed = 2 * (bound + max(w for _, w in ONLINE_FEATURES.values())) < 2 ** 62
    merged = np.empty(2 * len(key), np.int64) if packed else None  # one buffer for every window
    out = {}
    for name, (how, window) in ONLINE_FEATURES.items():
        if packed:
            count = window_counts(key, window, merged)
        else:
            count = idx - np.searchsorted(key, key - window, side="left")
        if how == "count":
            out[name] = (count.astype(float), count)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = ((csum[:-1] - csum[idx - count]) / count, count)
    return out


def window_counts(key: np.ndarray, window: int, merged: np.ndarray) -> np.ndarray:
    """How many earlier rows have a key in ``[key - window, key)``, for a sorted int64 ``key``.

    That is ``i - np.searchsorted(key, key - window, side="left")`` at row ``i``,
    by one merge instead of a binary search per row: the queries (even:
    ``2 * (key - window)``) and the keys (odd: ``2 * key + 1``) are two sorted
    runs, which a stable sort (timsort) merges in linear time. A key sorts
    before a query exactly when it is smaller, so if the ``i``-th query lands
    at position ``p``, ``p - i`` keys are below it and the count is ``2 * i - p``.
    ``merged`` is an int64 work buffer of ``2 * len(key)``; ``2 * (|key| + window)``
    must fit in an int64.
    """
    n = len(key)
    np.subtract(key, window, out=merged[:n])
    merged[:n] *= 2
    np.multiply(key, 2, out=merged[n:])
    merged[n:] += 1
    merged.sort(kind="stable")
    low_byte = merged.view(np.uint8)[::8] if sys.byteorder == "little" else merged.view(np.uint8)[7::8]
    count = np.flatnonzero((low_byte & 1) == 0)  # where the queries landed
    np.subtract(np.arange(0, 2 * n, 2), count, out=count)
    return count


def serving_log(txn_id: np.ndarray, aggregates: dict, failed: np.ndarray) -> pd.DataFrame:
    """What the online service returned for each purchase: values and ``<name>_status``."""
    cols: dict[str, object] = {"txn_id": txn_id}
    for name, (value, count) in aggregates.items():
        if ONLINE_FEATURES[name][0] == "mean":
            cols[name] = np.where(failed, np.nan, value)
        else:
            cols[name] = pd.arrays.IntegerArray(count.astype(np.int32), failed.copy())
        cols[f"{name}_status"] = status_categorical(np.where(failed, np.int8(2), (count == 0).view(np.int8)))
    return pd.DataFrame(cols, copy=False)


def batch_snapshots(user_ids: np.ndarray, run_at: np.ndarray, txn_user: np.ndarray, txn_t: np.ndarray,
                    txn_amount: np.ndarray, cb_user: np.ndarray, cb_reported: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """The nightly job's rows for one shard's users (``*_user`` index into ``user_ids``).

    Returns arrays ``user_id``, ``run`` (index into ``run_at``) and the
    :data:`BATCH_FEATURES`, one row per user and run with activity or a report
    in the last 30 partitions, ordered by run, then by position in ``user_ids``.

    Works on dense ``(runs, users)`` grids: per-partition totals, their running
    sums over runs, and windows as differences of running sums (or, for few
    events such as chargebacks, each event counted in every run whose window
    holds it). Counts are integers (exact); amounts are summed in float64 in
    the order given.
    """
    n_users, n_runs = len(user_ids), len(run_at)

    def cells(user, when):
        """The running-sum cell (``(run + 1) * n_users + user``) of each event that a run sees, for its first run."""
        part = first_run(run_at, when)
        ok = part < n_runs
        part += 1
        part *= n_users
        part += user
        return part[ok], ok

    def running(flat, weights=None):
        """Totals up to and including each run, shape ``(n_runs + 1, n_users)``; row 0 is zero."""
        cum = np.bincount(flat, weights=weights, minlength=(n_runs + 1) * n_users).reshape(n_runs + 1, n_users)
        for d in range(2, n_runs + 1):  # np.cumsum(axis=0), run by run: the same sums, much faster
            np.add(cum[d - 1], cum[d], out=cum[d])
        return cum

    def last(cum, days):
        """Per run ``d``, the total of partitions ``(d - days, d]`` (``cum[d + 1] - cum[max(d + 1 - days, 0)]``), flat."""
        out = np.empty((n_runs, n_users), cum.dtype)
        k = min(days, n_runs)
        out[:k] = cum[1:k + 1]  # minus cum[0], which is zero
        np.subtract(cum[k + 1:], cum[1:n_runs + 1 - k], out=out[k:])
        return out.ravel()

    def last_at(cum, days, cell):
        """``last(cum, days)[cell]``, read from the running sums at those cells only."""
        flat = cum.ravel()
        lo = cell - (days - 1) * n_users  # row d + 1 - days; clipped to 0 it reads a zero of row 0
        np.maximum(lo, 0, out=lo)
        return flat[cell + n_users] - flat[lo]

    def last_sparse(flat, days):
        """``last(running(flat), days)`` for few events: each event counted in each of its runs."""
        span = np.arange(min(days, n_runs)) * n_users
        seen = (flat[:, None] + span).ravel()  # (run + 1) * n_users + user, for runs run, run + 1, ...
        size = (n_runs + 1) * n_users
        return np.bincount(seen[seen < size], minlength=size)[n_users:]

    txn_cell, txn_ok = cells(txn_user, txn_t)
    txn_cum = running(txn_cell)
    n30 = last(txn_cum, 30)
    cb_cell = cells(cb_user, cb_reported)[0]
    cb30 = last_sparse(cb_cell, 30) if 30 * len(cb_cell) < n_runs * n_users else last(running(cb_cell), 30)
    active = (n30 > 0).reshape(n_runs, n_users)
    active |= (cb30 > 0).reshape(n_runs, n_users)
    counts = active.sum(axis=1)
    cell = np.flatnonzero(active)  # ordered by run, then user
    del active
    c7 = last_at(txn_cum, 7, cell)
    del txn_cum
    s7 = last_at(running(txn_cell, txn_amount[txn_ok]), 7, cell)
    with np.errstate(invalid="ignore", divide="ignore"):
        s7 /= c7
    s7[c7 == 0] = np.nan  # the average of an empty window
    run = np.repeat(np.arange(n_runs), counts)
    user = run * n_users
    np.subtract(cell, user, out=user)
    return {
        "user_id": user_ids[user],
        "run": run,
        "user_chargeback_count_last_30_days": cb30[cell].astype(np.int32),
        "avg_txn_amount_last_7_days": s7,
        "txn_count_last_7_days": c7.astype(np.int32),
        "txn_count_last_30_days": n30[cell].astype(np.int32),
    }


def first_run(run_at: np.ndarray, when: np.ndarray) -> np.ndarray:
    """The index of the first run whose cutoff is at or after ``when`` (``len(run_at)``: none).

    ``np.searchsorted(run_at, when, side="left")``; by integer arithmetic when the
    runs are evenly spaced (a nightly job).
    """
    n = len(run_at)
    step = int(run_at[1] - run_at[0]) if n > 1 else 0
    if step > 0 and np.all(np.diff(run_at) == step):
        when = np.asarray(when, dtype=np.int64)
        return np.clip((when - (int(run_at[0]) + 1)) // step + 1, 0, n)
    return np.searchsorted(run_at, when, side="left")
