"""DuckDB's ASOF JOIN (``simulator.asof_duckdb``) against the project's as-of join (``simulator.asof``).

Every comparison is of whole frames (values, dtypes, order, index): the matched rows must be the
same. The one way plain DuckDB differs -- it settles ties on ``available_at`` arbitrarily, not by
``tie_breaker`` -- is shown by itself, next to the test that the module's settlement fixes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import assert_frames_equal
from simulator.asof import asof_join
from simulator.pipelines import NIGHTLY_COLUMNS, SNAPSHOT_MAX_AGE

pytest.importorskip("duckdb")
from simulator.asof_duckdb import connect, duckdb_asof_join  # noqa: E402  (after the skip)

JOIN = dict(by="user_id", decision_time="event_time", tie_breaker="run_at")
NIGHT = pd.Timestamp("2026-01-05 23:55")
PUBLISHED = pd.Timestamp("2026-01-06 00:30")
NS = pd.Timedelta(1, "ns")


@pytest.fixture(scope="module")
def con():
    connection = connect(threads=2)
    yield connection
    connection.close()


def both(con, decisions, features, **kwargs) -> pd.DataFrame:
    """The two joins' frames, asserted equal; the project's returned."""
    kwargs = {**JOIN, **kwargs}
    expected = asof_join(decisions, features, **kwargs)
    got = duckdb_asof_join(decisions, features, connection=con, **kwargs)
    assert_frames_equal(got, expected, obj="duckdb_asof_join")
    return expected


def features_of(rows: list[tuple]) -> pd.DataFrame:
    """(user, run_at, available_at, count) rows as a feature table; ``count`` is int32, as in the world."""
    frame = pd.DataFrame(rows, columns=["user_id", "run_at", "available_at", "count"])
    return frame.astype({"user_id": "int64", "run_at": "datetime64[ns]", "available_at": "datetime64[ns]",
                         "count": "int32"})


def decisions_of(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "event_time"]).astype({"user_id": "int64",
                                                                         "event_time": "datetime64[ns]"})


@pytest.mark.parametrize("small_world", [0], indirect=True)  # one seed: a few seconds
@pytest.mark.parametrize("max_age", [None, SNAPSHOT_MAX_AGE], ids=["no-max-age", "max-age"])
def test_the_nightly_join_of_a_real_world_is_the_same(con, small_world, max_age):
    """``pipelines._nightly``'s point-in-time join, and the same decisions shuffled (order and index restored)."""
    rows = small_world.transactions[["txn_id", "user_id", "event_time"]]
    batch = small_world.batch_features[["user_id", "run_at", "available_at", *NIGHTLY_COLUMNS]]
    joined = both(con, rows, batch, max_age=max_age)
    matched = joined["available_at"].notna()
    assert 0.5 < matched.mean() < 1, "most purchases find a snapshot, and some find none: both cases compared"
    if max_age is not None:
        unlimited = asof_join(rows, batch, **JOIN)
        assert unlimited["available_at"].notna().sum() > matched.sum(), "max_age drops some matches"
    both(con, rows.sample(frac=1, random_state=0), batch, max_age=max_age)


def test_a_snapshot_published_at_the_decision_time_counts_to_the_nanosecond(con):
    features = features_of([(1, NIGHT - pd.Timedelta("1D"), PUBLISHED - pd.Timedelta("1D"), 7),
                            (1, NIGHT, PUBLISHED, 8)])
    decisions = decisions_of([(1, PUBLISHED), (1, PUBLISHED - NS), (1, PUBLISHED + NS)])
    joined = both(con, decisions, features)
    assert joined["count"].tolist() == [8, 7, 8], "1 ns before publication is the day before's snapshot"


def test_times_at_other_resolutions_are_compared_as_nanoseconds(con):
    features = features_of([(1, NIGHT, PUBLISHED + pd.Timedelta(500, "ns"), 8)])
    decisions = decisions_of([(1, PUBLISHED), (1, PUBLISHED + pd.Timedelta(1, "us"))])
    joined = both(con, decisions.astype({"event_time": "datetime64[us]"}), features)
    assert joined["count"].isna().tolist() == [True, False], "published 500 ns after the first decision"


def test_ties_on_available_at_go_to_the_latest_tie_breaker_in_either_order(con):
    rows = [(1, NIGHT, PUBLISHED, 1), (1, NIGHT + pd.Timedelta("1s"), PUBLISHED, 2)]
    decisions = decisions_of([(1, PUBLISHED), (1, PUBLISHED + pd.Timedelta("1h"))])
    for order in (rows, rows[::-1]):
        joined = both(con, decisions, features_of(order))
        assert joined["count"].tolist() == [2, 2]
    without_ties = both(con, decisions, features_of(rows[:1]), tie_breaker=None)
    assert without_ties["count"].tolist() == [1, 1]


def test_plain_duckdb_asof_join_ignores_the_tie_breaker(con):
    """The semantic difference the module settles: DuckDB's ``ASOF JOIN`` takes any one of the rows
    of an entity that share ``available_at`` -- here the later run for only about half the users."""
    users = 1000
    later_first = np.repeat(np.arange(users) % 2 == 1, 2)  # half the users list their later run first
    run = np.where(later_first, 1 - np.tile([0, 1], users), np.tile([0, 1], users))
    features = pd.DataFrame({"user_id": np.repeat(np.arange(users), 2), "run_at": NIGHT + pd.to_timedelta(run, "s"),
                             "available_at": PUBLISHED, "count": np.arange(2 * users, dtype=np.int32)})
    decisions = pd.DataFrame({"user_id": np.arange(users), "event_time": PUBLISHED + pd.Timedelta("1h")})
    con.register("plain_features", features)
    con.register("plain_decisions", decisions)
    try:
        plain = con.sql("SELECT d.user_id, f.run_at FROM plain_decisions d ASOF LEFT JOIN plain_features f "
                        "ON d.user_id = f.user_id AND d.event_time >= f.available_at").df()
    finally:
        con.unregister("plain_features")
        con.unregister("plain_decisions")
    later = (plain["run_at"] == NIGHT + pd.Timedelta("1s")).mean()
    assert plain["run_at"].notna().all(), "every decision finds one of its user's rows"
    assert later < 1, "DuckDB now breaks ties by the later run: the module's settlement may be unneeded"
    joined = both(con, decisions, features)
    assert (joined["run_at"] == NIGHT + pd.Timedelta("1s")).all()


def test_no_match_gives_missing_values(con):
    features = features_of([(1, NIGHT, PUBLISHED, 8), (2, NIGHT, PUBLISHED, 9)])
    decisions = decisions_of([(1, PUBLISHED - pd.Timedelta("1h")),  # before the user's first snapshot
                              (3, PUBLISHED + pd.Timedelta("1h")),  # a user with no feature rows at all
                              (2, PUBLISHED + pd.Timedelta("1h"))])
    joined = both(con, decisions, features)
    assert joined["count"].isna().tolist() == [True, True, False]
    assert joined["count"].dtype == "float64", "an int32 feature with missing values, as asof_join gives it"
    nothing = both(con, decisions, features.iloc[:0])
    assert nothing["count"].isna().all() and nothing["available_at"].isna().all()


def test_max_age_is_inclusive_and_drops_only_older_matches(con):
    features = features_of([(1, NIGHT, PUBLISHED, 8)])
    age = pd.Timedelta("25h")
    decisions = decisions_of([(1, PUBLISHED + age), (1, PUBLISHED + age + NS), (1, PUBLISHED)])
    joined = both(con, decisions, features, max_age=age)
    assert joined["count"].isna().tolist() == [False, True, False]
    assert both(con, decisions, features, max_age="0s")["count"].isna().tolist() == [True, True, False]


def test_narrower_entity_ids_and_a_labelled_index(con):
    features = features_of([(1, NIGHT, PUBLISHED, 8), (2, NIGHT, PUBLISHED, 9)])
    decisions = decisions_of([(2, PUBLISHED), (1, PUBLISHED), (3, PUBLISHED)]).astype({"user_id": "int32"})
    decisions.index = pd.Index(["x", "y", "z"])
    joined = both(con, decisions, features)
    assert joined["count"].tolist()[:2] == [9, 8] and list(joined.index) == ["x", "y", "z"]


@pytest.mark.parametrize("decision_ids, feature_ids", [
    (pd.Series(["u1", "u2", None], dtype="str"), pd.Series(["u1", None, "u2"], dtype=object)),
    (pd.Series([1.0, 2.0, np.nan]), pd.Series([1.0, np.nan, 2.0])),
], ids=["strings", "floats"])
def test_ids_of_other_dtypes_match_alike_and_a_missing_id_matches_nothing(con, decision_ids, feature_ids):
    features = features_of([(1, NIGHT, PUBLISHED, 8), (0, NIGHT, PUBLISHED, 9), (2, NIGHT, PUBLISHED, 7)])
    decisions = decisions_of([(1, PUBLISHED), (2, PUBLISHED), (0, PUBLISHED)])
    joined = both(con, decisions.assign(user_id=decision_ids), features.assign(user_id=feature_ids))
    assert joined["count"].tolist()[:2] == [8, 7] and np.isnan(joined["count"].iloc[2]), "missing: no match"


def test_feature_rows_without_an_entity_are_no_duplicates_of_each_other(con):
    features = features_of([(1, NIGHT, PUBLISHED, 8), (0, NIGHT, PUBLISHED, 9), (0, NIGHT, PUBLISHED, 7)])
    features["user_id"] = features["user_id"].astype(object).where(features["user_id"] != 0, None)
    decisions = decisions_of([(1, PUBLISHED), (1, PUBLISHED - NS)])
    assert both(con, decisions, features)["count"].tolist()[0] == 8


@pytest.mark.parametrize("tie_breaker", ["run_at", None])
def test_ambiguous_rows_are_refused_with_the_same_error(con, tie_breaker):
    rows = [(1, NIGHT, PUBLISHED, 8), (1, NIGHT, PUBLISHED, 9)] if tie_breaker else \
        [(1, NIGHT, PUBLISHED, 8), (1, NIGHT + pd.Timedelta("1s"), PUBLISHED, 9)]
    features = features_of(rows + [(2, NIGHT, PUBLISHED, 1)])
    decisions = decisions_of([(1, PUBLISHED)])
    errors = []
    for join in (asof_join, lambda *a, **k: duckdb_asof_join(*a, connection=con, **k)):
        with pytest.raises(ValueError, match=r"^features: 1 rows share \(user_id, available_at") as error:
            join(decisions, features, **{**JOIN, "tie_breaker": tie_breaker})
        errors.append(str(error.value))
    assert errors[0] == errors[1]
