"""The training-set builder's time semantics, checked as properties over windows and worlds.

* point in time: no row reads a nightly snapshot published after its purchase;
* naive (calendar-date join): on a world with same-day chargeback reports, rows do;
* absence: a request that failed in production stays ``unavailable`` -- never
  ``no_history``, never a value -- under every ``missing`` policy;
* sharing: features computed once for a whole world are those of each window's own rows.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulator
from simulator.asof import asof_join
from simulator.features import ONLINE_FEATURES
from simulator.lookup import by_txn_id, row_positions, sorted_by
from simulator.pipelines import (CORRECT, NAIVE, SNAPSHOT_MAX_AGE, build_training_set, decision_rows, nightly_features,
                                 online_features, production_table)

from conftest import horizon_bounds

COUNT = "user_chargeback_count_last_30_days"
PROPERTY = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS, DAYS = st.integers(0, 3), st.integers(1, 9)
MISSING = st.sampled_from(["zero", "nan", "indicator"])


@functools.cache
def small(seed: int) -> simulator.World:
    return simulator.generate(simulator.preset("small"), seed=seed)


def window(world, start_day: int, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    start, _ = horizon_bounds(world)
    return start + pd.Timedelta(days=start_day), start + pd.Timedelta(days=start_day + days)


@PROPERTY
@given(seed=SEEDS, start_day=st.integers(2, 50), days=DAYS, missing=MISSING)
def test_point_in_time_builder_never_reads_a_snapshot_from_the_future(seed, start_day, days, missing):
    world = small(seed)
    start, end = window(world, start_day, days)
    frame = build_training_set(world, start=start, end=end,
                               switches=CORRECT.but(label_maturity_days=None, missing=missing)).frame
    published = frame["snapshot_available_at"]
    assert published.notna().any(), "after two days of history some purchases have a snapshot"
    assert (published.isna() | (published <= frame["event_time"])).all()


def test_naive_builder_reads_same_day_reports_from_the_future(lesson_world):
    """Where a chargeback was reported after a purchase but before that day's job, the naive count
    includes it: the row reads a snapshot published after it, with a count the point-in-time row lacks."""
    start, _ = horizon_bounds(lesson_world)
    start, end = start + pd.Timedelta(days=30), start + pd.Timedelta(days=60)
    pit = build_training_set(lesson_world, start=start, end=end, switches=CORRECT.but(label_maturity_days=None)).frame
    naive = build_training_set(lesson_world, start=start, end=end, switches=NAIVE.but(label_maturity_days=None)).frame
    reports = lesson_world.chargebacks
    same_day = reports.merge(lesson_world.transactions[["txn_id", "event_time"]], on="txn_id")
    same_day = same_day[same_day["reported_at"].dt.normalize() == same_day["event_time"].dt.normalize()]
    assert len(same_day) > 0, "the world must have same-day reports for this test to mean anything"
    future = naive["snapshot_available_at"] > naive["event_time"]
    assert future.mean() > 0.5
    leaked = future & (naive[COUNT] > pit[COUNT].fillna(0))
    assert leaked.sum() > 0
    assert naive.loc[leaked, "label"].mean() > 10 * naive["label"].mean(), "the leak is concentrated on fraud"


@PROPERTY
@given(seed=SEEDS, start_day=st.integers(0, 50), days=DAYS, missing=MISSING)
def test_an_unavailable_feature_never_becomes_no_history_or_a_value(seed, start_day, days, missing):
    world = small(seed)
    start, end = window(world, start_day, days)
    switches = CORRECT.but(missing=missing)
    for table in (production_table(world, start=start, end=end, switches=switches),
                  build_training_set(world, start=start, end=end,
                                     switches=switches.but(label_maturity_days=None, online_source="served"))):
        frame = table.frame
        log = world.serving_log.set_index("txn_id").reindex(frame["txn_id"])
        for name in ONLINE_FEATURES:
            failed = (log[f"{name}_status"] == "unavailable").to_numpy()
            status = frame[f"raw_{name}_status"].to_numpy()
            assert (status[failed] == "unavailable").all()
            assert (status[~failed] != "unavailable").all()
            value = frame[name].to_numpy(dtype=float)
            if missing == "zero":
                assert (value[failed] == 0).all()
            else:
                assert np.isnan(value[failed]).all()
            if missing == "indicator":
                assert (frame[f"{name}_unavailable"].to_numpy()[failed] == 1).all()
                assert (frame[f"{name}_no_history"].to_numpy()[failed] == 0).all()


# --- per-purchase values shared between tables ------------------------------------------------------

def test_recomputed_online_features_are_what_the_service_served_when_it_answered(lesson_world):
    """Recomputed from the warehouse for every purchase at once, the online features equal the
    serving log to the bit wherever the request did not fail: the same windows, the same history,
    the same sums -- on a world of several shards, where sums over all of them once differed."""
    rows = lesson_world.transactions
    recomputed = online_features(lesson_world, rows, "recomputed")
    served = online_features(lesson_world, rows, "served")
    for name in ONLINE_FEATURES:
        answered = (served[f"{name}_status"] != "unavailable").to_numpy()
        assert answered.mean() > 0.5
        assert (recomputed[f"{name}_status"] != "unavailable").all()
        np.testing.assert_array_equal(recomputed[f"{name}_status"].to_numpy()[answered],
                                      served[f"{name}_status"].to_numpy()[answered])
        np.testing.assert_array_equal(recomputed[name].to_numpy(dtype=float)[answered],
                                      served[name].to_numpy(dtype=float, na_value=np.nan)[answered], err_msg=name)


@PROPERTY
@given(seed=SEEDS, start_day=st.integers(2, 50), days=DAYS)
def test_a_window_gets_the_features_the_whole_world_gets(seed, start_day, days):
    """Features are a function of the purchase alone: a window's rows, taken from the values
    computed once for the whole world, read the snapshot that the as-of join of the window's
    own rows finds (the join itself is checked against an oracle in test_asof.py)."""
    world = small(seed)
    start, end = window(world, start_day, days)
    rows = decision_rows(world, start, end)
    batch = world.batch_features
    direct = asof_join(rows[["user_id", "event_time"]], batch, by="user_id", decision_time="event_time",
                       tie_breaker="run_at", max_age=SNAPSHOT_MAX_AGE)
    shared = nightly_features(world, rows, point_in_time=True)
    np.testing.assert_array_equal(shared["available_at"].to_numpy(), direct["available_at"].to_numpy())
    np.testing.assert_array_equal(shared[COUNT].to_numpy(dtype=float), direct[COUNT].to_numpy(dtype=float))


def test_lookup_by_txn_id_is_the_same_by_position_and_by_search():
    table = pd.DataFrame({"txn_id": np.arange(6), "x": [0.5, 1.5, 2.5, 3.5, 4.5, 5.5]})
    wanted = np.array([5, 0, 3, 3])
    positional = by_txn_id(table, wanted, ["x"])
    searched = by_txn_id(table.iloc[::-1], wanted, ["x"])  # not in id order: searched
    pd.testing.assert_frame_equal(positional, searched)
    assert positional["x"].tolist() == [5.5, 0.5, 3.5, 3.5]
    assert by_txn_id(table, np.array([2, 9]), ["x"])["x"].isna().tolist() == [False, True], "a missing id is missing"


INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


def holding(values: list[int]) -> list[str]:
    """The integer dtypes that hold every one of ``values``."""
    return [d for d in INT_DTYPES if not values or np.iinfo(d).min <= min(values) and max(values) <= np.iinfo(d).max]


@settings(max_examples=80, deadline=None)
@given(keys=st.lists(st.integers(-200, 200), unique=True, max_size=40), spread=st.sampled_from([1, 10**9]),
       wanted=st.lists(st.integers(-250, 250), max_size=40), picks=st.lists(st.integers(0, 39), max_size=20),
       data=st.data())
def test_row_positions_is_pandas_get_indexer(keys, spread, wanted, picks, data):
    """Keys within a small span (looked up in a table indexed by key) or far apart (sorted and
    searched), of any integer dtypes on either side: the rows pandas finds, -1 for absent ids, and
    an error on repeated keys."""
    keys = [k * spread for k in keys]
    wanted = wanted + [keys[p] for p in picks if p < len(keys)]
    keys = np.array(keys, dtype=data.draw(st.sampled_from(holding(keys)), label="keys dtype"))
    wanted = np.array(wanted, dtype=data.draw(st.sampled_from(holding(wanted)), label="wanted dtype"))
    np.testing.assert_array_equal(row_positions(keys, wanted, "id"),
                                  pd.Index(keys.astype(object)).get_indexer(wanted.astype(object)))
    if len(keys):
        with pytest.raises(ValueError, match="id: keys repeat"):
            row_positions(np.append(keys, keys[-1]), wanted, "id")


def test_sorted_by_is_pandas_sort_values():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"user_id": rng.integers(0, 5, 200), "txn_id": rng.permutation(200),
                          "event_time": pd.Timestamp("2026-01-05") + pd.to_timedelta(rng.integers(0, 9, 200), "h")})
    pd.testing.assert_frame_equal(sorted_by(frame, ["event_time", "user_id", "txn_id"]),
                                  frame.sort_values(["event_time", "user_id", "txn_id"]))
    ordered = frame.sort_values(["event_time", "user_id"], kind="stable")
    assert sorted_by(ordered, ["event_time", "user_id"]) is ordered, "already in order: not copied"
    unordered_ties = ordered.iloc[::-1].sort_values("event_time", kind="stable")  # user_id falls within ties
    pd.testing.assert_frame_equal(sorted_by(unordered_ties, ["event_time", "user_id"]),
                                  unordered_ties.sort_values(["event_time", "user_id"], kind="stable"))


def test_the_calendar_date_join_is_pandas_merge_on_user_and_day(small_world):
    """The naive join, a binary search on (user, calendar day), against the plain pandas merge."""
    rows = small_world.transactions[["txn_id", "user_id", "event_time"]]
    batch = small_world.batch_features
    merged = rows.assign(day=rows["event_time"].dt.normalize()).merge(
        batch.assign(day=batch["run_at"].dt.normalize()), on=["user_id", "day"], how="left", validate="many_to_one")
    naive = nightly_features(small_world, rows, point_in_time=False)
    assert naive["run_at"].notna().mean() > 0.5
    for column, merged_column in [("run_at", "run_at"), ("available_at", "available_at"), (COUNT, COUNT),
                                  ("nightly_avg_txn_amount_last_7_days", "avg_txn_amount_last_7_days")]:
        np.testing.assert_array_equal(naive[column].to_numpy(), merged[merged_column].to_numpy(dtype=naive[column].dtype))
