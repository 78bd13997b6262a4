"""The point-in-time join against a brute-force oracle and against pandas.merge_asof.

Random small tables put times on a coarse grid of minutes, so that equal
``available_at`` values (ties) and decisions at exactly a publication time occur
often.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.asof import asof_join

T0 = pd.Timestamp("2026-01-05")
MINUTE = pd.Timedelta(minutes=1)


@st.composite
def tables(draw, tie_breaker: bool = True):
    """(decisions, features, max_age): integer entities, times on a coarse minute grid."""
    feature_rows = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 12), st.integers(0, 2)),
                                 max_size=25, unique_by=(lambda r: r if tie_breaker else r[:2])))
    features = pd.DataFrame(feature_rows, columns=["user_id", "minute", "run"], dtype="int64")
    features["available_at"] = (T0 + features["minute"] * MINUTE).astype("datetime64[ns]")
    features["value"] = np.arange(len(features), dtype=float) * 1.5 + 0.25  # identifies the matched row
    features = features.drop(columns="minute")
    if not tie_breaker:
        features = features.drop(columns="run")
    decision_rows = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 14)), min_size=1, max_size=25))
    decisions = pd.DataFrame(decision_rows, columns=["user_id", "minute"], dtype="int64")
    decisions["event_time"] = (T0 + decisions["minute"] * MINUTE).astype("datetime64[ns]")
    decisions = decisions.drop(columns="minute")
    labels = draw(st.sampled_from(["range", "shuffled", "duplicated", "strings"]))
    n = len(decisions)
    decisions.index = {"range": pd.RangeIndex(n), "shuffled": pd.Index(draw(st.permutations(range(100, 100 + n)))),
                       "duplicated": pd.Index([i // 2 for i in range(n)]),
                       "strings": pd.Index([f"d{i}" for i in range(n)])}[labels]
    max_age = draw(st.one_of(st.none(), st.integers(0, 6).map(lambda m: m * MINUTE)))
    return decisions, features, max_age


def oracle(decisions: pd.DataFrame, features: pd.DataFrame, max_age, tie_breaker) -> pd.DataFrame:
    """For each decision: the feature row of its entity with available_at <= decision time (and not
    older than max_age) that is latest by (available_at, tie_breaker); nothing if there is none."""
    entity = features["user_id"].to_numpy()
    published = features["available_at"].to_numpy().astype("datetime64[ns]")
    rank = features[tie_breaker].to_numpy() if tie_breaker else np.zeros(len(features))
    value = features["value"].to_numpy()
    out_value = np.full(len(decisions), np.nan)
    out_published = np.full(len(decisions), np.datetime64("NaT"), dtype="datetime64[ns]")
    times = decisions["event_time"].to_numpy().astype("datetime64[ns]")
    for i, (e, at) in enumerate(zip(decisions["user_id"].to_numpy(), times)):
        ok = (entity == e) & (published <= at)
        if max_age is not None:
            ok &= at - published <= max_age.to_timedelta64()
        candidates = np.flatnonzero(ok)
        if len(candidates):
            best = max(candidates, key=lambda j: (published[j], rank[j]))
            out_value[i], out_published[i] = value[best], published[best]
    return pd.DataFrame({"value": out_value, "available_at": out_published}, index=decisions.index)


def with_merge_asof(decisions: pd.DataFrame, features: pd.DataFrame, max_age, tie_breaker) -> pd.DataFrame:
    """The same question asked of pandas.merge_asof directly (both sides sorted, then the order restored)."""
    left = decisions.assign(__row=np.arange(len(decisions))).sort_values("event_time", kind="stable")
    right = features.sort_values(["available_at"] + ([tie_breaker] if tie_breaker else []), kind="stable")
    right = right[["user_id", "available_at", "value"]]
    merged = pd.merge_asof(left, right, left_on="event_time", right_on="available_at", by="user_id",
                           direction="backward", tolerance=max_age)
    merged = merged.sort_values("__row")
    merged.index = decisions.index
    return merged[["value", "available_at"]]


@settings(max_examples=60, deadline=None)
@given(tables(tie_breaker=True))
def test_asof_join_equals_the_oracle_and_merge_asof(data):
    decisions, features, max_age = data
    got = asof_join(decisions, features, by="user_id", decision_time="event_time", tie_breaker="run",
                    max_age=max_age, columns=["value"])
    # the decision frame comes back whole: same rows, order, index, columns first
    pd.testing.assert_frame_equal(got[decisions.columns], decisions)
    assert list(got.columns) == [*decisions.columns, "value", "available_at"]
    expected = oracle(decisions, features, max_age, "run")
    pd.testing.assert_frame_equal(got[["value", "available_at"]], expected)
    by_pandas = with_merge_asof(decisions, features, max_age, "run")
    pd.testing.assert_frame_equal(got[["value", "available_at"]], by_pandas)
    assert (got["available_at"].isna() | (got["available_at"] <= got["event_time"])).all()


@settings(max_examples=40, deadline=None)
@given(tables(tie_breaker=False))
def test_asof_join_without_tie_breaker_equals_the_oracle(data):
    decisions, features, max_age = data
    got = asof_join(decisions, features, by="user_id", decision_time="event_time", max_age=max_age)
    assert list(got.columns) == [*decisions.columns, "value", "available_at"]
    pd.testing.assert_frame_equal(got[["value", "available_at"]], oracle(decisions, features, max_age, None))


@settings(max_examples=25, deadline=None)
@given(tables(tie_breaker=True), st.sampled_from(["ns", "us", "ms", "s"]), st.sampled_from(["ns", "us", "s"]))
def test_times_at_other_resolutions_give_the_same_answer(data, decision_unit, feature_unit):
    decisions, features, max_age = data
    coarse = decisions.assign(event_time=decisions["event_time"].astype(f"datetime64[{decision_unit}]"))
    coarse_features = features.assign(available_at=features["available_at"].astype(f"datetime64[{feature_unit}]"))
    got = asof_join(coarse, coarse_features, by="user_id", decision_time="event_time", tie_breaker="run",
                    max_age=max_age)
    ns = asof_join(decisions, features, by="user_id", decision_time="event_time", tie_breaker="run", max_age=max_age)
    assert got["event_time"].dtype == f"datetime64[{decision_unit}]", "the decision frame keeps its own dtype"
    pd.testing.assert_frame_equal(got.drop(columns="event_time"), ns.drop(columns="event_time"))


ID_DTYPES = {"strings": ["str", "object", "category"], "numbers": ["int64", "float64", "Int64"]}


@st.composite
def id_dtypes(draw):
    """The dtypes of the decisions' and the features' ids: both strings, or both numbers, in any mix."""
    family = ID_DTYPES[draw(st.sampled_from(sorted(ID_DTYPES)))]
    return draw(st.sampled_from(family)), draw(st.sampled_from(family))


@settings(max_examples=40, deadline=None)
@given(tables(tie_breaker=True), id_dtypes(), st.booleans())
def test_entities_of_any_dtype_match_as_integer_ids_do(data, dtypes, a_missing_id):
    """String ids (pandas' str or object), categories, floats or nullable integers on either side, in
    any mix, join as the integers they stand for; a missing id on either side matches nothing."""
    decisions, features, max_age = data
    decision_dtype, feature_dtype = dtypes
    a_missing_id &= "int64" not in dtypes  # int64 has no missing value
    if a_missing_id:  # a decision and a feature row whose entity is unknown, the row published then: no match
        decisions = pd.concat([decisions, pd.DataFrame({"user_id": [-1], "event_time": [T0]}, index=["unknown"])])
        features = pd.concat([features, pd.DataFrame({"user_id": [-1], "run": [99], "available_at": [T0],
                                                      "value": [-1.0]})], ignore_index=True)

    def ids(frame, dtype):
        named = frame["user_id"].map(lambda u: None if u == -1 else (f"u{u}" if dtype in ID_DTYPES["strings"] else u))
        return frame.assign(user_id=named.astype(dtype))

    got = asof_join(ids(decisions, decision_dtype), ids(features, feature_dtype), by="user_id",
                    decision_time="event_time", tie_breaker="run", max_age=max_age, columns=["value"])
    expected = asof_join(decisions, features[features["user_id"] != -1], by="user_id", decision_time="event_time",
                         tie_breaker="run", max_age=max_age, columns=["value"])
    pd.testing.assert_frame_equal(got[["value", "available_at"]], expected[["value", "available_at"]])
    if a_missing_id:
        assert np.isnan(got["value"].iloc[-1]), "a missing id matched a missing id"


def small_pair():
    features = pd.DataFrame({"user_id": [1, 1, 2],
                             "run_at": pd.to_datetime(["2026-01-01 00:00", "2026-01-02 00:00", "2026-01-01 00:00"]),
                             "available_at": pd.to_datetime(["2026-01-01 00:30", "2026-01-02 00:30",
                                                             "2026-01-01 00:40"]).astype("datetime64[ns]"),
                             "count": [3, 4, 5]})
    decisions = pd.DataFrame({"user_id": [1, 2, 3, 1],
                              "event_time": pd.to_datetime(["2026-01-01 12:00", "2026-01-01 00:39",
                                                            "2026-01-03 00:00", "2026-01-03 00:00"])})
    return decisions, features


def test_strings_parsed_at_microseconds_join_nanosecond_features():
    decisions, features = small_pair()
    assert decisions["event_time"].dtype == "datetime64[us]"  # what pandas 3 infers from strings
    got = asof_join(decisions, features, by="user_id", decision_time="event_time", tie_breaker="run_at")
    assert got["count"].iloc[0] == 3 and got["count"].iloc[3] == 4
    assert got["count"].iloc[1:3].isna().all(), "too early for user 2; no rows for user 3: missing, not a default"
    assert got["run_at"].iloc[0] == pd.Timestamp("2026-01-01")
    fresh = asof_join(decisions, features, by="user_id", decision_time="event_time", tie_breaker="run_at",
                      max_age="12h")  # the last decision's snapshot is 23.5 hours old
    assert fresh["count"].iloc[0] == 3 and pd.isna(fresh["count"].iloc[3])


def test_ambiguous_duplicates_are_refused():
    decisions, features = small_pair()
    twice = pd.concat([features, features.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"^features: 1 rows share \(user_id, available_at, run_at\)"):
        asof_join(decisions, twice, by="user_id", decision_time="event_time", tie_breaker="run_at")
    same_time = features.assign(available_at=features["available_at"].iloc[0])
    with pytest.raises(ValueError, match=r"^features: 1 rows share \(user_id, available_at\)"):
        asof_join(decisions, same_time.iloc[:2], by="user_id", decision_time="event_time")


def test_a_missing_decision_time_is_refused_naming_the_column():
    decisions, features = small_pair()
    decisions.loc[2, "event_time"] = pd.NaT
    with pytest.raises(ValueError, match=r"^decisions\.event_time: 1 missing times"):
        asof_join(decisions, features, by="user_id", decision_time="event_time", tie_breaker="run_at")


def test_time_zone_aware_times_are_refused():
    decisions, features = small_pair()
    aware = decisions.assign(event_time=decisions["event_time"].dt.tz_localize("UTC"))
    with pytest.raises(TypeError, match=r"^decisions\.event_time: expected time-zone-naive datetimes"):
        asof_join(aware, features, by="user_id", decision_time="event_time", tie_breaker="run_at")
    aware_features = features.assign(available_at=features["available_at"].dt.tz_localize("UTC"))
    with pytest.raises(TypeError, match=r"^features\.available_at: expected time-zone-naive"):
        asof_join(decisions, aware_features, by="user_id", decision_time="event_time", tie_breaker="run_at")


def test_on_a_real_world_the_join_never_reads_a_snapshot_before_it_is_published(small_world):
    txns = small_world.transactions[["txn_id", "user_id", "event_time"]]
    batch = small_world.batch_features
    got = asof_join(txns, batch, by="user_id", decision_time="event_time", tie_breaker="run_at")
    matched = got["available_at"].notna()
    assert matched.mean() > 0.5, "most purchases have a published snapshot of their user"
    assert (got.loc[matched, "available_at"] <= got.loc[matched, "event_time"]).all()
    # and it is the latest published one: no snapshot of the user published in between
    sample = got.sample(n=min(500, len(got)), random_state=0)
    expected = oracle(sample, batch.assign(value=np.arange(len(batch), dtype=float)), None, "run_at")
    pd.testing.assert_series_equal(sample["available_at"], expected["available_at"], check_dtype=False,
                                   check_names=False)
