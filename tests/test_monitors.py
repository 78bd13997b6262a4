"""The lessons' monitors and diagnostics on constructed data, where the right answer is known."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import simulator
from simulator.lessons import default_signalling as signalling
from simulator.lessons import population_shift as shift
from simulator.pipelines import CORRECT, ModelTable

CONFIG = simulator.preset("default")  # cohorts: 'mature' existed at the start; the others arrive
DEPLOYED = pd.Timestamp("2026-04-05")
TIMELINE = SimpleNamespace(extracted_at=DEPLOYED)
WORLD = SimpleNamespace(config=CONFIG)


def test_cohort_group_splits_existing_from_arriving_cohorts():
    groups = shift.cohort_group(WORLD, pd.Series(["mature", "growth", "expansion", "promo"]))
    assert groups.tolist() == ["mature", "new", "new", "new"]


def test_ks_between_cohorts_is_zero_for_identical_and_one_for_disjoint_groups():
    values = np.arange(100.0)
    alike = pd.DataFrame({"group": ["mature"] * 100 + ["new"] * 100, "amount": np.r_[values, values],
                          "txn_count_last_24h": np.r_[values, values + 100]})
    ks = shift.ks_between_cohorts(alike).set_index("feature")["ks"]
    assert ks["amount"] == 0.0
    assert ks["txn_count_last_24h"] == 1.0


def test_fraud_rate_by_cohort_counts_and_ratios():
    marginals = pd.DataFrame({
        "group": ["mature"] * 100 + ["new"] * 100,
        "cohort": ["mature"] * 100 + ["growth"] * 50 + ["promo"] * 50,
        "is_fraud": np.r_[np.arange(100) < 1, np.arange(50) < 2, np.arange(50) < 4],
    })
    out = shift.fraud_rate_by_cohort(marginals).set_index("cohort")
    assert out.loc["all mature", "fraud_rate"] == pytest.approx(0.01)
    assert out.loc["all new", "fraud_rate"] == pytest.approx(0.06)
    assert out.loc["all new", "ratio_to_mature"] == pytest.approx(6.0)
    assert out.loc["promo", "ratio_to_mature"] == pytest.approx(8.0)


def table(frame: pd.DataFrame, features: list[str]) -> ModelTable:
    return ModelTable(frame, features, CORRECT)


def test_feature_ks_by_period_is_silent_until_a_feature_moves():
    rng = np.random.default_rng(0)
    train = table(pd.DataFrame({"x": rng.normal(size=4000), "y": rng.normal(size=4000)}), ["x", "y"])
    x = rng.normal(size=4000)
    production = table(pd.DataFrame({"x": x, "y": np.r_[rng.normal(size=2000), rng.normal(size=2000) + 5]}),
                       ["x", "y"])
    ks = shift.feature_ks_by_period(train, production, np.repeat([0, 1], 2000)).set_index(["period", "feature"])["ks"]
    assert ks[(0, "x")] < shift.KS_ALERT and ks[(1, "x")] < shift.KS_ALERT and ks[(0, "y")] < shift.KS_ALERT
    assert ks[(1, "y")] > 0.9


def scored_weeks(new_share: list[float], new_observed_over_predicted: list[float], *, n: int = 1000,
                 score: float = 0.01) -> pd.DataFrame:
    """Production rows per week with a known new-cohort share and calibration (mature: calibrated)."""
    parts = []
    for week, (share, ratio) in enumerate(zip(new_share, new_observed_over_predicted)):
        n_new = int(round(share * n))
        cohort = ["growth"] * n_new + ["mature"] * (n - n_new)
        label = np.zeros(n, bool)
        label[: int(round(n_new * score * ratio))] = True  # new rows come first
        label[n_new: n_new + int(round((n - n_new) * score))] = True
        parts.append(pd.DataFrame({"event_time": DEPLOYED + pd.Timedelta(days=7 * week + 1),
                                   "cohort": cohort, "score": score, "label": label}))
    return pd.concat(parts, ignore_index=True)


def test_segment_monitor_fires_on_the_mix_or_a_miscalibrated_group_only():
    train = table(pd.DataFrame({"cohort": ["growth"] * 200 + ["mature"] * 800}), [])
    frame = scored_weeks(new_share=[0.2, 0.2, 0.5, 0.2], new_observed_over_predicted=[1.0, 3.0, 1.0, 1.0])
    monitor = shift.segment_monitor(frame, train, WORLD, TIMELINE).set_index("week")
    assert monitor["fires"].tolist() == [False, True, True, False]
    assert monitor.loc[2, "new_share_shift"] == pytest.approx(0.3)
    assert monitor.loc[1, "observed_over_predicted_new"] == pytest.approx(3.0)
    assert monitor.loc[1, "observed_over_predicted_mature"] == pytest.approx(1.0)


def test_label_free_estimate_trusts_the_scores_and_misses_a_shift():
    """Scores say the top 1% holds half the expected fraud; the labels put all fraud elsewhere."""
    score = np.r_[np.full(10, 0.5), np.full(990, 5 / 990)]  # expected frauds: 5 flagged + 5 not
    label = np.zeros(1000, bool)
    label[500:510] = True  # realised: 10 frauds, none among the flagged top 1%
    frame = pd.DataFrame({"event_time": DEPLOYED + pd.Timedelta(days=1), "score": score, "label": label})
    out = shift.label_free_estimate(frame, TIMELINE).iloc[0]
    assert out["estimated_recall"] == pytest.approx(0.5)
    assert out["realised_recall"] == 0.0


def test_fraud_rate_by_value_puts_zero_in_its_own_bucket():
    value = np.r_[np.zeros(500), np.arange(1, 501, dtype=float)]
    label = np.r_[np.zeros(500, bool), np.arange(500) % 10 == 0]  # 50 frauds, all with a value
    out = signalling.fraud_rate_by_value(table(pd.DataFrame({"v": value, "label": label}), ["v"]), "v", n_bins=5)
    assert out["bucket"].iloc[0] == "0 (default)"
    assert out["rows"].iloc[0] == 500 and out["frauds"].iloc[0] == 0
    assert out["rows"].sum() == 1000 and out["frauds"].sum() == 50
    assert out["relative_rate"].iloc[1:].to_numpy() == pytest.approx(2.0)


def test_availability_by_hour_shares_and_alerts():
    hours = pd.to_datetime(["2026-04-05 10:05"] * 10 + ["2026-04-05 19:30"] * 10)
    status = ["ok"] * 10 + ["ok"] * 4 + ["unavailable"] * 5 + ["no_history"]
    log = pd.DataFrame({"txn_id": np.arange(20)})
    for name in signalling.ONLINE_FEATURES:
        log[name] = 1.0
        log[f"{name}_status"] = pd.Categorical(status, categories=list(signalling.STATUSES))
    world = SimpleNamespace(serving_log=log, transactions=pd.DataFrame({"txn_id": np.arange(20), "event_time": hours}))
    shares = signalling.availability_by_hour(world)
    evening = shares[shares["hour"] == pd.Timestamp("2026-04-05 19:00")].iloc[0]
    assert evening["unavailable"] == pytest.approx(0.5) and evening["no_history"] == pytest.approx(0.1)
    alerting = signalling.availability_alerts(shares)
    assert set(alerting["hour"]) == {pd.Timestamp("2026-04-05 19:00")}
    assert len(alerting) == len(signalling.ONLINE_FEATURES)


def test_the_monitors_read_a_weighted_sample_as_the_rows_it_stands_for():
    """A scored frame whose rows weigh k gives every monitor the numbers of the frame with each
    row repeated k times: production frames are evaluation samples (negatives weigh 10)."""
    rng = np.random.default_rng(5)
    n = 3000
    frame = pd.DataFrame({"event_time": DEPLOYED + pd.to_timedelta(rng.integers(0, 28 * 24, n), "h"),
                          "cohort": rng.choice(["mature", "growth", "promo"], n),
                          "score": rng.random(n) ** 3, "label": rng.random(n) < 0.05})
    weighted = frame.assign(weight=np.where(frame["label"], 1, rng.integers(1, 4, n)).astype(float))
    replicated = frame.loc[frame.index.repeat(weighted["weight"].astype(int))].reset_index(drop=True)
    train = table(pd.DataFrame({"cohort": ["growth"] * 100 + ["mature"] * 900}), [])
    for monitor in (lambda f: shift.calibration_by_cohort(f),
                    lambda f: shift.label_free_estimate(f, TIMELINE),
                    lambda f: shift.segment_monitor(f, train, WORLD, TIMELINE),
                    lambda f: shift.weekly_performance(f, WORLD, TIMELINE)):
        pd.testing.assert_frame_equal(monitor(weighted), monitor(replicated), check_dtype=False)
