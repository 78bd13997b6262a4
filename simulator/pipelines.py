"""The training-set builder: one mechanism, one switch per lesson.

A team pulls a training table at an *extraction time*: the purchases of a
training window, their features and their labels. Each switch is one decision
about time; :data:`NAIVE` gets all of them wrong the way a busy team does,
:data:`CORRECT` respects when every value became known.

``point_in_time``
    on: nightly features joined as of ``available_at <= event_time`` (the
    snapshot production could read); off: the snapshot of the purchase's
    calendar date (computed at 23:55 *after* a 09:10 purchase).
``label_maturity_days``
    labels are what was reported by the extraction time; with a cutoff of N
    days only purchases at least N days old at extraction are kept, so their
    labels had time to arrive. ``None``: every purchase, immature labels and all.
``missing``
    ``"zero"``: absent values become 0; ``"nan"``: absent values stay NaN for
    a NaN-aware model; ``"indicator"``: NaN plus one flag per kind of absence
    (``<feature>_no_history``, ``<feature>_unavailable``).
``context_features``
    on: who the user is (tenure, cohort, region, channel) is a feature.
``online_source``
    ``"recomputed"``: online features recomputed from the warehouse after the
    fact (never unavailable); ``"served"``: the serving log, what production
    actually returned, outages included; ``"none"``: no online features (a
    degraded-mode model for when the online service is down).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .asof import asof_join
from .features import ONLINE_FEATURES, STATUSES, window_aggregates
from .labels import eventual_label, known_fraud_as_of
from .lookup import by_txn_id, order_by, row_positions, rows_at, sorted_by
from .sample import FULL, WEIGHT, EvaluationSample
from .world import SHARD_SIZE, World

MISSING_POLICIES = ("zero", "nan", "indicator")
ONLINE_SOURCES = ("recomputed", "served", "none")
# Nightly feature -> its column in model tables (the nightly average is renamed to
# stay apart from the online feature of the same name).
NIGHTLY_COLUMNS = {
    "user_chargeback_count_last_30_days": "user_chargeback_count_last_30_days",
    "avg_txn_amount_last_7_days": "nightly_avg_txn_amount_last_7_days",
    "txn_count_last_7_days": "nightly_txn_count_last_7_days",
}
# A nightly snapshot is current for a day after it is published (plus an hour
# of slack for a late job); users missing from the current one had no activity
# or report in its 30-day window.
SNAPSHOT_MAX_AGE = pd.Timedelta(hours=25)
TRANSACTION_FEATURES = ("amount", "hour_of_day", "is_new_device")
CONTEXT_FEATURES = ("tenure_days", "cohort_feature", "region", "channel")  # the context_features switch
ROW_COLUMNS = ("txn_id", "user_id", "event_time", "is_fraud", "fraud_scenario", "cohort")
# Whether the online service failed at the purchase's decision time (the serving log), whatever
# online source the table's features come from: an analysis column, never a feature.
SERVED_UNAVAILABLE = "served_unavailable"


@dataclass(frozen=True)
class Switches:
    """How a training table is built; see the module docstring for each switch."""

    point_in_time: bool = True
    label_maturity_days: float | None = 30.0
    missing: str = "indicator"
    context_features: bool = True
    online_source: str = "served"

    def __post_init__(self):
        if self.missing not in MISSING_POLICIES:
            raise ValueError(f"missing: {self.missing!r} is not allowed; choose one of {MISSING_POLICIES}")
        if self.online_source not in ONLINE_SOURCES:
            raise ValueError(f"online_source: {self.online_source!r} is not allowed; choose one of {ONLINE_SOURCES}")
        m = self.label_maturity_days
        if m is not None and (isinstance(m, bool) or not isinstance(m, (int, float)) or not m >= 0):
            raise ValueError(f"label_maturity_days: {m!r} is not allowed; expected None or a number >= 0")

    def but(self, **changes) -> "Switches":
        """A copy with some switches flipped: ``CORRECT.but(point_in_time=False)``."""
        return replace(self, **changes)


NAIVE = Switches(point_in_time=False, label_maturity_days=None, missing="zero", context_features=False,
                 online_source="recomputed")
CORRECT = Switches()


@dataclass(frozen=True)
class ModelTable:
    """Rows ready for a model: ``frame[features]`` is X, ``frame['label']`` is y.

    ``frame`` also keeps the row identifiers, the ground truth (``is_fraud``,
    ``fraud_scenario``; never a feature), the raw feature statuses and
    ``served_unavailable``, for analysis, and ``weight``: how many purchases
    each row stands for (1 in a full table; see :mod:`simulator.sample`).
    """

    frame: pd.DataFrame
    features: list[str]
    switches: Switches

    @property
    def X(self) -> pd.DataFrame:
        return self.frame[self.features]

    @property
    def y(self) -> np.ndarray:
        return self.frame["label"].to_numpy()


# --- per-purchase values, computed once per world ------------------------------------------------
# Each feature value is a function of one purchase and what came before it, whatever window
# or sample a table holds: so each serving path is computed once for every purchase of a world
# and each table takes its rows from it. A World's tables are treated as read-only; to change
# them, build a new World.
_PER_WORLD: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_PER_WORLD_LOCK = threading.RLock()  # tables may be built in the model-fitting threads too


def _once(world: World, key, compute):
    with _PER_WORLD_LOCK:
        memo = _PER_WORLD.setdefault(world, {})
        if key not in memo:
            memo[key] = compute(world)
        return memo[key]


def _purchases(world: World) -> pd.DataFrame:
    users = world.users.set_index("user_id")[["signup_time", "cohort", "region", "channel"]]
    rows = sorted_by(world.transactions, ["event_time", "txn_id"]).join(users, on="user_id")
    return rows.reset_index(drop=True)


def _recomputed_online(world: World) -> pd.DataFrame:
    """What the online service would have returned for every purchase had it never failed:
    the same windows over the user's earlier purchases, from the warehouse, in ``txn_id`` order.

    Computed shard by shard, as the service's log was: a window's sum is a difference of running
    sums, whose rounding over the whole world would depend on other users' purchases. So the values
    are exactly those served where the service did not fail, and a shard alone gives its own."""
    tx = world.transactions
    order = order_by(tx, ["user_id", "event_time", "txn_id"])
    user = tx["user_id"].to_numpy()[order]
    t = tx["event_time"].to_numpy().astype(np.int64)[order] // 10**6
    amount = tx["amount"].to_numpy()[order]
    cuts = [0, *(np.flatnonzero(np.diff(user // SHARD_SIZE)) + 1), len(user)]
    shards = [window_aggregates(user[a:b], t[a:b], amount[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    cols = {"txn_id": tx["txn_id"].to_numpy()}
    for name in ONLINE_FEATURES:
        value, count = (np.concatenate([s[name][i] for s in shards]) for i in (0, 1))
        cols[name] = np.empty(len(tx))
        cols[name][order] = value
        code = np.empty(len(tx), np.int8)
        code[order] = np.where(count == 0, 1, 0)
        cols[f"{name}_status"] = pd.Categorical.from_codes(code, categories=list(STATUSES))
    return pd.DataFrame(cols)


def _nightly(world: World, point_in_time: bool) -> pd.DataFrame:
    """The nightly snapshot every purchase of the world gets (in the transactions table's order).

    Point in time: the latest snapshot with ``available_at <= event_time`` and at most
    :data:`SNAPSHOT_MAX_AGE` old. Naive: the snapshot whose ``run_at`` falls on the
    purchase's calendar date, published before or after the purchase.
    """
    rows = world.transactions[["txn_id", "user_id", "event_time"]]
    batch = world.batch_features[["user_id", "run_at", "available_at", *NIGHTLY_COLUMNS]]
    if point_in_time:
        joined = asof_join(rows, batch, by="user_id", decision_time="event_time", tie_breaker="run_at",
                           max_age=SNAPSHOT_MAX_AGE)
    else:  # the snapshot whose run falls on the purchase's calendar date: one key, (user, day)
        row = row_positions(_user_day(batch["user_id"], batch["run_at"]), _user_day(rows["user_id"], rows["event_time"]),
                            "batch_features (user_id, calendar day of run_at)")
        joined = rows_at(batch, row, list(batch.columns)).assign(txn_id=rows["txn_id"].to_numpy())
    return joined[["txn_id", "run_at", "available_at", *NIGHTLY_COLUMNS]].rename(columns=NIGHTLY_COLUMNS)


def _user_day(user_id: pd.Series, time: pd.Series) -> np.ndarray:
    """One integer per (user, calendar day): ``user_id * 10**6 + days since 1970``."""
    days = time.to_numpy().astype("datetime64[D]").astype(np.int64)
    return user_id.to_numpy().astype(np.int64) * 1_000_000 + days


def decision_rows(world: World, start, end) -> pd.DataFrame:
    """The purchases with ``start <= event_time < end``, in decision order, with the buyer's
    ``signup_time``, ``cohort``, ``region`` and ``channel``: one decision each, at its ``event_time``."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if not start < end:
        raise ValueError(f"window: start {start} must be before end {end}")
    purchases = _once(world, "purchases", _purchases)
    lo, hi = purchases["event_time"].searchsorted([start, end], side="left")
    return purchases.iloc[lo:hi].reset_index(drop=True)


def online_features(world: World, rows: pd.DataFrame, source: str) -> pd.DataFrame:
    """Online feature values and ``<name>_status`` for ``rows``, as served or recomputed."""
    names = [c for name in ONLINE_FEATURES for c in (name, f"{name}_status")]
    if source == "none":
        return pd.DataFrame(index=pd.RangeIndex(len(rows)))
    table = world.serving_log if source == "served" else _once(world, "recomputed", _recomputed_online)
    return by_txn_id(table, rows["txn_id"].to_numpy(), names)


def nightly_features(world: World, rows: pd.DataFrame, point_in_time: bool) -> pd.DataFrame:
    """Nightly snapshot values for ``rows`` plus the matched snapshot's ``run_at``/``available_at``.

    Point in time: the as-of join on ``available_at``. Naive: the snapshot whose
    ``run_at`` falls on the purchase's calendar date, whenever it was published.
    """
    table = _once(world, ("nightly", point_in_time), lambda w: _nightly(w, point_in_time))
    return by_txn_id(table, rows["txn_id"].to_numpy(), ["run_at", "available_at", *NIGHTLY_COLUMNS.values()])


def _with_statuses(nightly: pd.DataFrame) -> pd.DataFrame:
    """Nightly values with a status per feature: ``no_history`` where no snapshot or no value."""
    out = nightly.copy()
    for col in NIGHTLY_COLUMNS.values():
        code = np.where(out[col].isna(), 1, 0).astype(np.int8)
        out[f"{col}_status"] = pd.Categorical.from_codes(code, categories=list(STATUSES))
    return out


def apply_missing(values: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, list[str]]:
    """Turn feature values with ``<name>_status`` columns into model columns under ``policy``."""
    names = [c[: -len("_status")] for c in values.columns if c.endswith("_status")]
    cols, features = {}, []
    for name in names:
        value = values[name].astype("float64")
        status = values[f"{name}_status"]
        cols[name] = value.fillna(0.0) if policy == "zero" else value
        features.append(name)
        if policy == "indicator":
            for kind in ("no_history", "unavailable"):
                cols[f"{name}_{kind}"] = (status == kind).astype("int8")
                features.append(f"{name}_{kind}")
    return pd.DataFrame(cols, index=values.index), features


def served_unavailable(world: World, rows: pd.DataFrame) -> np.ndarray:
    """True where the online service's request failed at the row's decision time (an outage)."""
    status = f"{next(iter(ONLINE_FEATURES))}_status"
    return by_txn_id(world.serving_log, rows["txn_id"].to_numpy(), [status])[status].to_numpy() == "unavailable"


def model_table(world: World, rows: pd.DataFrame, labels: np.ndarray, switches: Switches, *,
                point_in_time: bool, online_source: str, weights: np.ndarray | None = None) -> ModelTable:
    """Features for ``rows`` under ``switches`` with the given serving paths, plus ``labels``
    and ``weights`` (default: every row counts once)."""
    online = online_features(world, rows, online_source)
    nightly = _with_statuses(nightly_features(world, rows, point_in_time))
    values = pd.concat([online, nightly.drop(columns=["run_at", "available_at"])], axis=1)
    model_cols, status_features = apply_missing(values, switches.missing)
    base = pd.DataFrame({
        "amount": rows["amount"].to_numpy(),
        "hour_of_day": (rows["event_time"].dt.hour + rows["event_time"].dt.minute / 60).to_numpy(),
        "is_new_device": rows["is_new_device"].astype("int8").to_numpy(),
    })
    features = list(TRANSACTION_FEATURES) + status_features
    parts = [rows[list(ROW_COLUMNS)].reset_index(drop=True), base, model_cols.reset_index(drop=True),
             values.filter(like="_status").add_prefix("raw_").reset_index(drop=True),
             nightly[["run_at", "available_at"]].add_prefix("snapshot_")]
    if switches.context_features:
        context = pd.DataFrame({
            "tenure_days": ((rows["event_time"] - rows["signup_time"]).dt.total_seconds() / 86400).to_numpy(),
            "region": rows["region"].array, "channel": rows["channel"].array,
            "cohort_feature": rows["cohort"].array,
        })
        parts.append(context)
        features += list(CONTEXT_FEATURES)
    frame = pd.concat(parts, axis=1)
    frame[SERVED_UNAVAILABLE] = served_unavailable(world, rows)
    frame["label"] = np.asarray(labels, dtype=bool)
    frame[WEIGHT] = np.ones(len(frame)) if weights is None else np.asarray(weights, dtype=float)
    return ModelTable(frame, features, switches)


def without_context(table: ModelTable) -> ModelTable:
    """``table`` as built with ``context_features`` off: the same rows and values, the context
    columns kept in the frame for analysis but no longer features. (Building with context and
    dropping it is how variants that differ only in that switch share one table.)"""
    if not table.switches.context_features:
        return table
    return ModelTable(table.frame, [f for f in table.features if f not in CONTEXT_FEATURES],
                      table.switches.but(context_features=False))


def extraction_time(end, extracted_at=None) -> pd.Timestamp:
    """When a training table is extracted: ``extracted_at`` (default: the window's ``end``), never before ``end``."""
    extracted_at = pd.Timestamp(end if extracted_at is None else extracted_at)
    if extracted_at < pd.Timestamp(end):
        raise ValueError(f"extracted_at: {extracted_at} is before the window's end {end}; "
                         "a team cannot extract purchases that have not happened")
    return extracted_at


def check_mature_rows(n_rows: int, *, start, end, extracted_at, switches: Switches) -> None:
    """Refuse a training table that the maturity cutoff left without a purchase."""
    if not n_rows and switches.label_maturity_days is not None:
        raise ValueError(f"label_maturity_days: {switches.label_maturity_days} leaves no purchase in "
                         f"[{start}, {end}) old enough at {extracted_at}")


def build_training_set(world: World, *, start, end, extracted_at=None, switches: Switches = CORRECT,
                       allow_empty: bool = False) -> ModelTable:
    """The training table a team extracting at ``extracted_at`` (default: ``end``) would build.

    Rows: purchases in ``[start, end)`` -- and, with a maturity cutoff, only
    those with ``event_time <= extracted_at - label_maturity_days``. Labels: a
    chargeback reported by ``extracted_at``. A cutoff that leaves no row is an
    error unless ``allow_empty`` (one shard of a world may have none: :mod:`simulator.shardwise`).
    """
    extracted_at = extraction_time(end, extracted_at)
    rows = decision_rows(world, start, end)
    if switches.label_maturity_days is not None:
        rows = rows[rows["event_time"] <= extracted_at - pd.Timedelta(days=switches.label_maturity_days)]
        rows = rows.reset_index(drop=True)
    if not allow_empty:
        check_mature_rows(len(rows), start=start, end=end, extracted_at=extracted_at, switches=switches)
    labels = known_fraud_as_of(rows, world.chargebacks, extracted_at).to_numpy()
    return model_table(world, rows, labels, switches, point_in_time=switches.point_in_time,
                       online_source=switches.online_source)


def production_table(world: World, *, start, end, switches: Switches = CORRECT,
                     sample: EvaluationSample = FULL) -> ModelTable:
    """Purchases in ``[start, end)`` with features exactly as production had them.

    Online features come from the serving log (outages included), nightly ones
    as of ``available_at``; the ``missing`` and ``context_features`` switches
    shape the columns as the model expects. Labels are eventual. With a
    ``sample`` below the full table, the rows are the evaluation sample (every
    purchase with an eventual chargeback and a share of the rest, with weights); it depends on
    neither the switches nor the model, so every variant is replayed on the
    same purchases.
    """
    rows = decision_rows(world, start, end)
    labels = eventual_label(rows, world.chargebacks).to_numpy()
    kept, weights = sample.keep(rows["txn_id"].to_numpy(), labels)
    rows, labels = rows[kept].reset_index(drop=True), labels[kept]
    source = "none" if switches.online_source == "none" else "served"
    return model_table(world, rows, labels, switches, point_in_time=True, online_source=source, weights=weights)
