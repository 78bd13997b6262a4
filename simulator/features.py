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


def status_categorical(codes: np.ndarray) -> pd.Categorical:
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=list(STATUSES))


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
    if np.any(np.diff(key) < 0):
        raise ValueError("window_aggregates: rows must be sorted by (entity, t)")
    idx = np.arange(len(key))
    csum = np.concatenate([[0.0], np.cumsum(amount)])
    out = {}
    for name, (how, window) in ONLINE_FEATURES.items():
        left = np.searchsorted(key, key - window, side="left")
        count = idx - left
        if how == "count":
            out[name] = (count.astype(float), count)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = ((csum[idx] - csum[left]) / count, count)
    return out


def serving_log(txn_id: np.ndarray, aggregates: dict, failed: np.ndarray) -> pd.DataFrame:
    """What the online service returned for each purchase: values and ``<name>_status``."""
    cols: dict[str, object] = {"txn_id": txn_id}
    for name, (value, count) in aggregates.items():
        if ONLINE_FEATURES[name][0] == "mean":
            cols[name] = np.where(failed, np.nan, value)
        else:
            cols[name] = pd.arrays.IntegerArray(count.astype(np.int32), failed.copy())
        cols[f"{name}_status"] = status_categorical(np.where(failed, 2, np.where(count == 0, 1, 0)))
    return pd.DataFrame(cols)


def batch_snapshots(user_ids: np.ndarray, run_at: np.ndarray, txn_user: np.ndarray, txn_t: np.ndarray,
                    txn_amount: np.ndarray, cb_user: np.ndarray, cb_reported: np.ndarray
                    ) -> dict[str, np.ndarray]:
    """The nightly job's rows for one shard's users (``*_user`` index into ``user_ids``).

    Returns arrays ``user_id``, ``run`` (index into ``run_at``) and the
    :data:`BATCH_FEATURES`, one row per user and run with activity or a report
    in the last 30 partitions.
    """
    n_users, n_runs = len(user_ids), len(run_at)

    def per_partition(user, when, weights=None):
        part = np.searchsorted(run_at, when, side="left")  # the first run that sees it
        ok = part < n_runs
        flat = user[ok] * n_runs + part[ok]
        w = None if weights is None else weights[ok]
        grid = np.bincount(flat, weights=w, minlength=n_users * n_runs).reshape(n_users, n_runs)
        return np.concatenate([np.zeros((n_users, 1)), np.cumsum(grid, axis=1)], axis=1)

    def last(cum, days):
        d = np.arange(n_runs)
        return cum[:, d + 1] - cum[:, np.maximum(d + 1 - days, 0)]

    txn_cum = per_partition(txn_user, txn_t)
    amt_cum = per_partition(txn_user, txn_t, txn_amount)
    cb_cum = per_partition(cb_user, cb_reported)
    n7, n30, cb30 = last(txn_cum, 7), last(txn_cum, 30), last(cb_cum, 30)
    rows_u, rows_d = np.nonzero((n30 > 0) | (cb30 > 0))
    s7 = last(amt_cum, 7)[rows_u, rows_d]
    c7 = n7[rows_u, rows_d]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg7 = np.where(c7 > 0, s7 / c7, np.nan)
    return {
        "user_id": user_ids[rows_u],
        "run": rows_d,
        "user_chargeback_count_last_30_days": np.round(cb30[rows_u, rows_d]).astype(np.int32),
        "avg_txn_amount_last_7_days": avg7,
        "txn_count_last_7_days": np.round(c7).astype(np.int32),
        "txn_count_last_30_days": np.round(n30[rows_u, rows_d]).astype(np.int32),
    }
