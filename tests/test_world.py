"""A generated world against its data contract and its own ground truth.

Invariants run on the small preset for several seeds (``small_world``); batch
and online features are compared with slow-but-obvious recomputations from the
public tables. Statistics run on the 'lesson' preset and compare what the world
realised with what its config asks for, within a binomial tolerance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import simulator
from conftest import assert_within_sigmas, horizon_bounds
from simulator.config import load_config
from simulator.features import window_aggregates
from simulator.fraud import amount_z, new_account_probability
from simulator.labels import MIN_DELAY_MS

DEVICES_PER_USER = 64  # the contract: device_id // 64 is the user, device_id % 64 == 0 the home device
FRAUDSTER_SLOT = 48  # takeover rows use device slots >= 48
STATUSES = ["ok", "no_history", "unavailable"]
ONLINE_WINDOWS = {  # feature -> (aggregate, window), as named in the contract
    "avg_txn_amount_last_7_days": ("mean", pd.Timedelta(days=7)),
    "txn_count_last_1h": ("count", pd.Timedelta(hours=1)),
    "txn_count_last_24h": ("count", pd.Timedelta(hours=24)),
}
BATCH_COUNTS = ["user_chargeback_count_last_30_days", "txn_count_last_7_days", "txn_count_last_30_days"]
SERVING_SAMPLE = 3000
EXACT = {"rtol": 1e-9, "atol": 1e-9}  # features recomputed from the published amounts


# --- helpers: obvious recomputations from the public tables ----------------------------------

def is_takeover(transactions: pd.DataFrame) -> pd.Series:
    return transactions["fraud_scenario"] == "account_takeover"


def takeover_bursts(transactions: pd.DataFrame) -> pd.DataFrame:
    """One row per takeover burst (identified by its fraudster device): user, start, size."""
    ato = transactions[is_takeover(transactions)]
    return ato.groupby("device_id").agg(user_id=("user_id", "first"), start=("event_time", "min"),
                                        size=("txn_id", "size")).reset_index()


def outage_failure_rate(outages: pd.DataFrame, times: pd.Series) -> np.ndarray:
    """The failure rate in force at each time: that of the outage with start <= t < end, else 0.

    Outages are disjoint (tested below), so the latest start at or before ``t`` is
    the only candidate.
    """
    left = pd.DataFrame({"t": times.to_numpy(), "row": np.arange(len(times))}).sort_values("t")
    right = outages.sort_values("start_time")[["start_time", "end_time", "failure_rate"]]
    m = pd.merge_asof(left, right, left_on="t", right_on="start_time", direction="backward")
    inside = m["end_time"].notna() & (m["t"] < m["end_time"])
    rate = np.where(inside, m["failure_rate"], 0.0)
    out = np.empty(len(times))
    out[m["row"].to_numpy()] = rate
    return out


def run_schedule(world) -> list[pd.Timestamp]:
    """Every nightly ``run_at`` of the horizon: day d at ``batch_job.run_time``."""
    start, _ = horizon_bounds(world)
    rt = world.config.batch_job.run_time
    at = pd.Timedelta(hours=rt.hour, minutes=rt.minute, seconds=rt.second)
    return [start + pd.Timedelta(days=d) + at for d in range(world.config.horizon.days)]


def brute_force_batch(world) -> pd.DataFrame:
    """The nightly job recomputed run by run: rows indexed by (user_id, run_at)."""
    n_users = len(world.users)
    assert (world.users["user_id"].to_numpy() == np.arange(n_users)).all()
    t_user, t_time = world.transactions["user_id"].to_numpy(), world.transactions["event_time"].to_numpy()
    amount = world.transactions["amount"].to_numpy()
    cb_user, cb_time = world.chargebacks["user_id"].to_numpy(), world.chargebacks["reported_at"].to_numpy()
    frames = []
    for run_at in run_schedule(world):
        run = run_at.to_datetime64()

        def last(times, days):  # the last `days` partitions: (run_at - days, run_at]
            return (times > run - np.timedelta64(days, "D")) & (times <= run)

        in7, in30, cb30 = last(t_time, 7), last(t_time, 30), last(cb_time, 30)
        n7 = np.bincount(t_user[in7], minlength=n_users)
        with np.errstate(invalid="ignore"):
            avg7 = np.bincount(t_user[in7], weights=amount[in7], minlength=n_users) / n7
        frame = pd.DataFrame({
            "user_id": np.arange(n_users), "run_at": run_at,
            "user_chargeback_count_last_30_days": np.bincount(cb_user[cb30], minlength=n_users),
            "avg_txn_amount_last_7_days": avg7,
            "txn_count_last_7_days": n7,
            "txn_count_last_30_days": np.bincount(t_user[in30], minlength=n_users),
        })
        active = (frame["txn_count_last_30_days"] > 0) | (frame["user_chargeback_count_last_30_days"] > 0)
        frames.append(frame[active])
    return pd.concat(frames, ignore_index=True).set_index(["user_id", "run_at"]).sort_index()


def brute_force_online(transactions: pd.DataFrame, sample: pd.DataFrame) -> pd.DataFrame:
    """Online windows for the sampled purchases: the user's earlier purchases in [t - w, t).

    "Earlier" follows window_aggregates' tie rule: at an equal event_time, the
    purchase with the smaller txn_id (which comes first in the per-user order).
    """
    pairs = sample[["txn_id", "user_id", "event_time"]].merge(
        transactions[["txn_id", "user_id", "event_time", "amount"]], on="user_id", suffixes=("", "_prev"))
    earlier = (pairs["event_time_prev"] < pairs["event_time"]) | (
        (pairs["event_time_prev"] == pairs["event_time"]) & (pairs["txn_id_prev"] < pairs["txn_id"]))
    out = pd.DataFrame(index=pd.Index(sample["txn_id"], name="txn_id"))
    for name, (how, window) in ONLINE_WINDOWS.items():
        inside = pairs[earlier & (pairs["event_time_prev"] >= pairs["event_time"] - window)]
        grouped = inside.groupby("txn_id")["amount"]
        out[f"{name}_n"] = grouped.size().reindex(out.index, fill_value=0)
        if how == "mean":
            out[name] = grouped.mean().reindex(out.index)
        else:
            out[name] = out[f"{name}_n"]
    return out


@pytest.fixture(scope="module")
def batch_pair(small_world):
    """(served, recomputed) batch features of the small world, indexed by (user_id, run_at)."""
    served = small_world.batch_features.set_index(["user_id", "run_at"]).sort_index()
    return served, brute_force_batch(small_world)


@pytest.fixture(scope="module")
def online_pair(small_world):
    """(served, recomputed) online features for a random sample of the small world's purchases."""
    txns = small_world.transactions
    sample = txns.sample(n=min(SERVING_SAMPLE, len(txns)), random_state=small_world.seed)
    expected = brute_force_online(txns, sample)
    served = small_world.serving_log.set_index("txn_id").loc[expected.index]
    return served, expected


# --- keys and references ---------------------------------------------------------------------

def test_txn_ids_are_unique_and_the_serving_log_has_exactly_one_row_per_transaction(small_world):
    txns, log = small_world.transactions, small_world.serving_log
    assert txns["txn_id"].is_unique
    assert log["txn_id"].is_unique
    assert set(log["txn_id"]) == set(txns["txn_id"])


def test_every_chargeback_references_its_transaction_and_user(small_world):
    cbs, txns = small_world.chargebacks, small_world.transactions
    assert cbs["txn_id"].is_unique, "a purchase is charged back at most once"
    joined = cbs.merge(txns[["txn_id", "user_id", "event_time", "is_fraud"]], on="txn_id", how="left",
                       suffixes=("", "_txn"), indicator=True)
    assert (joined["_merge"] == "both").all(), "a chargeback references no transaction"
    assert (joined["user_id"] == joined["user_id_txn"]).all()
    assert (joined["reported_at"] > joined["event_time"]).all()
    assert set(cbs["reason"].cat.categories) == {"fraud", "friendly"}
    assert ((joined["reason"] == "fraud") == joined["is_fraud"]).all()


def test_transactions_happen_after_signup_inside_the_horizon_at_known_merchants(small_world):
    txns = small_world.transactions
    start, end = horizon_bounds(small_world)
    joined = txns.merge(small_world.users[["user_id", "signup_time"]], on="user_id", how="left",
                        validate="many_to_one")
    assert joined["signup_time"].notna().all(), "a transaction of an unknown user"
    assert (joined["event_time"] >= joined["signup_time"]).all()
    assert (txns["event_time"] >= start).all() and (txns["event_time"] < end).all()
    merchants = small_world.merchants.set_index("merchant_id")
    assert txns["merchant_id"].isin(merchants.index).all()
    merchant_mcc = merchants.loc[txns["merchant_id"], "mcc"].astype(str).to_numpy()
    assert (txns["mcc"].astype(str).to_numpy() == merchant_mcc).all()
    assert (txns["amount"] > 0).all()


def test_fraud_scenario_is_consistent_with_is_fraud(small_world):
    txns = small_world.transactions
    assert set(txns["fraud_scenario"].cat.categories) <= {"legit", "account_takeover", "new_account"}
    assert txns["fraud_scenario"].notna().all()
    assert (txns["is_fraud"] == (txns["fraud_scenario"] != "legit")).all()


def test_devices_belong_to_their_user_and_fraudsters_use_their_own_slots(small_world):
    txns = small_world.transactions
    assert (txns["device_id"] // DEVICES_PER_USER == txns["user_id"]).all()
    fraudster_slot = txns["device_id"] % DEVICES_PER_USER >= FRAUDSTER_SLOT
    assert (fraudster_slot == is_takeover(txns)).all()


def test_is_new_device_equals_a_recomputation(small_world):
    txns = small_world.transactions
    first_seen = txns.groupby(["user_id", "device_id"])["event_time"].transform("min")
    expected = ((txns["event_time"] - first_seen < pd.Timedelta(hours=24))
                & (txns["device_id"] % DEVICES_PER_USER != 0))
    assert (txns["is_new_device"] == expected).all()
    assert txns["is_new_device"].any(), "no new device at all: the check above is vacuous"


def test_users_follow_their_cohort_config(small_world):
    users, cfg = small_world.users, small_world.config
    start, _ = horizon_bounds(small_world)
    horizon = pd.Timedelta(days=cfg.horizon.days)
    assert users["user_id"].is_unique and len(users) == cfg.population.n_users
    assert list(users["cohort"].cat.categories) == [c.name for c in cfg.population.cohorts]
    one_ms = pd.Timedelta(milliseconds=1)
    for c in cfg.population.cohorts:
        members = users[users["cohort"] == c.name]
        assert (members["region"] == c.region).all()
        assert members["channel"].isin(list(c.channels)).all()
        if c.tenure_at_start_days is not None:
            lo = start - pd.Timedelta(days=c.tenure_at_start_days[1])
            hi = start - pd.Timedelta(days=c.tenure_at_start_days[0])
        else:
            lo = start + c.arrival_fraction[0] * horizon
            hi = start + c.arrival_fraction[1] * horizon
        assert members["signup_time"].between(lo - one_ms, hi + one_ms).all(), c.name


# --- batch features ------------------------------------------------------------------------

def assert_same_batch_rows(served: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert served.index.is_unique
    missing = expected.index.difference(served.index)
    extra = served.index.difference(expected.index)
    assert len(missing) == 0 and len(extra) == 0, f"missing rows {missing[:5].tolist()}, extra {extra[:5].tolist()}"


def assert_same_batch_counts(served: pd.DataFrame, expected: pd.DataFrame) -> None:
    joined = served.join(expected.add_suffix("_expected"), how="inner")
    assert len(joined) == len(expected)
    for name in BATCH_COUNTS:
        bad = joined[joined[name] != joined[f"{name}_expected"]]
        assert bad.empty, f"{name}: {len(bad)} rows differ, e.g.\n{bad[[name, name + '_expected']].head()}"


def test_batch_rows_exist_exactly_for_users_active_in_the_last_30_partitions(batch_pair):
    assert_same_batch_rows(*batch_pair)


def test_batch_counts_equal_a_brute_force_recomputation(batch_pair):
    assert_same_batch_counts(*batch_pair)


def test_batch_rows_and_counts_on_a_longer_world(lesson_world):
    """Over a longer horizon some rows exist only because of a chargeback reported long after
    the user's last purchase (the delay tail); the small worlds rarely have one."""
    served = lesson_world.batch_features.set_index(["user_id", "run_at"]).sort_index()
    expected = brute_force_batch(lesson_world)
    assert_same_batch_rows(served, expected)
    assert_same_batch_counts(served, expected)


def test_batch_average_amount_equals_a_brute_force_recomputation(batch_pair):
    served, expected = batch_pair
    joined = served.join(expected.add_suffix("_expected"), how="inner")
    name = "avg_txn_amount_last_7_days"
    assert (joined[name].isna() == (joined["txn_count_last_7_days"] == 0)).all(), "null iff no purchase in 7 days"
    np.testing.assert_allclose(joined[name], joined[f"{name}_expected"], **EXACT, equal_nan=True,
                               err_msg=f"{name} is not the mean of the published amounts")


def test_batch_runs_follow_the_schedule_and_publish_after_they_run(small_world):
    batch = small_world.batch_features
    assert batch["run_at"].isin(run_schedule(small_world)).all()
    assert (batch["available_at"] > batch["run_at"]).all()
    per_run = batch.groupby("run_at")["available_at"].nunique()
    assert (per_run == 1).all(), "every row of one run is published at the same time"


# --- online features (the serving log) -----------------------------------------------------

def test_served_counts_and_statuses_equal_a_brute_force_recomputation(online_pair):
    served, expected = online_pair
    answered = served["txn_count_last_1h_status"] != "unavailable"
    assert answered.sum() > 0.5 * len(served)
    s, e = served[answered], expected[answered]
    for name in ONLINE_WINDOWS:
        n = e[f"{name}_n"]
        status = np.where(n == 0, "no_history", "ok")
        assert (s[f"{name}_status"].astype(str).to_numpy() == status).all(), f"{name}_status"
    for name, (how, _) in ONLINE_WINDOWS.items():
        if how == "count":
            assert (s[name].astype("int64") == e[name]).all(), name
    assert (s["txn_count_last_24h"] > 0).any(), "no purchase had history: the check is vacuous"


def test_served_average_amount_equals_a_brute_force_recomputation(online_pair):
    served, expected = online_pair
    answered = served["avg_txn_amount_last_7_days_status"] != "unavailable"
    name = "avg_txn_amount_last_7_days"
    np.testing.assert_allclose(served.loc[answered, name], expected.loc[answered, name], **EXACT,
                               equal_nan=True, err_msg=f"{name} is not the mean of the published amounts")


def test_unavailable_only_inside_outages_with_null_values_exactly_then(small_world):
    log = small_world.serving_log.set_index("txn_id")
    times = small_world.transactions.set_index("txn_id")["event_time"].loc[log.index]
    inside = outage_failure_rate(small_world.outages, times) > 0
    unavailable = log["txn_count_last_1h_status"] == "unavailable"
    assert unavailable.any() and (~unavailable[inside]).any(), "outages should fail most, not all, requests"
    assert not unavailable[~inside].any(), "a request failed outside every outage"
    for name, (how, _) in ONLINE_WINDOWS.items():
        status = log[f"{name}_status"]
        assert list(status.cat.categories) == STATUSES
        assert ((status == "unavailable") == unavailable).all(), "one request per purchase: all or none fail"
        null = log[name].isna()
        if how == "count":
            assert (null == unavailable).all(), f"{name}: null exactly when unavailable"
            assert ((status == "no_history") == (log[name] == 0).fillna(False)).all()
        else:
            assert (null == (status != "ok")).all(), f"{name}: null exactly when unavailable or no history"
    assert str(log["txn_count_last_1h"].dtype) == "Int32"


def test_a_world_without_outages_serves_every_request():
    """Outages switched off is a valid config (e.g. a control world): nothing is unavailable."""
    config = load_config({"outages": {"probability_per_peak": 0.0, "offpeak_per_day": 0.0}}, base="small")
    world = simulator.generate(config.with_overrides(users=100), seed=0)
    assert world.outages.empty
    for name in ONLINE_WINDOWS:
        assert (world.serving_log[f"{name}_status"] != "unavailable").all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_window_aggregates_counts_ties_by_sorted_order(seed):
    """The documented tie rule: rows with equal (entity, t) count as earlier in their sorted order."""
    rng = np.random.default_rng(seed)
    n = 400
    hour = 3_600_000
    entity = np.sort(rng.integers(0, 5, n))
    t = np.concatenate([np.sort(rng.integers(0, 40, k)) for k in np.bincount(entity, minlength=5)]) * hour
    amount = rng.uniform(1, 100, n)
    got = window_aggregates(entity, t, amount)
    windows = {"avg_txn_amount_last_7_days": 7 * 24 * hour, "txn_count_last_1h": hour,
               "txn_count_last_24h": 24 * hour}
    assert np.any((np.diff(t) == 0) & (np.diff(entity) == 0)), "no ties generated"
    for name, window in windows.items():
        for i in range(n):
            earlier = (np.arange(n) < i) & (entity == entity[i]) & (t >= t[i] - window)
            value, count = got[name][0][i], got[name][1][i]
            assert count == earlier.sum(), (name, i)
            if name.startswith("avg"):
                expected = amount[earlier].mean() if earlier.any() else np.nan
                np.testing.assert_allclose(value, expected, rtol=1e-9, equal_nan=True)
            else:
                assert value == earlier.sum()


# --- takeover bursts and outages: structure ----------------------------------------------

def test_a_takeover_burst_follows_an_eligible_purchase_of_its_user(small_world):
    """A burst starts after one of its user's own purchases made at a tenure of at least
    takeover_min_tenure_days (the delay after it is unbounded, so only "after" is checked)."""
    txns, cfg = small_world.transactions, small_world.config
    bursts = takeover_bursts(txns)
    assert len(bursts), "no takeover in this world: the check is vacuous"
    own = txns[~is_takeover(txns)].merge(small_world.users[["user_id", "signup_time"]], on="user_id")
    pairs = bursts.merge(own[["user_id", "event_time", "signup_time"]], on="user_id")
    min_tenure = pd.Timedelta(days=cfg.fraud.takeover_min_tenure_days)
    anchors = pairs[(pairs["event_time"] <= pairs["start"])
                    & (pairs["event_time"] - pairs["signup_time"] >= min_tenure)]
    unanchored = set(bursts["device_id"]) - set(anchors["device_id"])
    assert not unanchored, f"bursts without an earlier eligible purchase: {sorted(unanchored)[:5]}"


def test_a_takeover_burst_is_charged_back_as_one_incident(small_world):
    txns = small_world.transactions
    ato = txns[is_takeover(txns)].merge(small_world.chargebacks[["txn_id", "reported_at"]], on="txn_id", how="left")
    ato = ato.sort_values(["device_id", "event_time", "txn_id"])
    reported = ato.groupby("device_id")["reported_at"].agg(lambda r: r.notna().mean())
    assert reported.isin([0.0, 1.0]).all(), "a burst is reported whole or not at all"
    first = ato.groupby("device_id")["reported_at"].transform("first")
    done = ato[first.notna()]
    expected = np.maximum(first[first.notna()], done["event_time"] + pd.Timedelta(milliseconds=MIN_DELAY_MS))
    assert (done["reported_at"] == expected).all(), "one report time per burst (later purchases just after)"


def test_outages_are_sorted_disjoint_and_inside_the_horizon(small_world):
    out, cfg = small_world.outages, small_world.config
    start, end = horizon_bounds(small_world)
    assert (out["start_time"] < out["end_time"]).all()
    assert out["start_time"].is_monotonic_increasing
    assert (out["end_time"].iloc[:-1].to_numpy() <= out["start_time"].iloc[1:].to_numpy()).all()
    assert (out["start_time"] >= start).all() and (out["end_time"] <= end).all()
    lo, hi = cfg.outages.failure_rate_range
    assert out["failure_rate"].between(lo, hi).all()
    assert out["service"].notna().all()


# --- ground truth: statistics against the config ------------------------------------------

def test_cohort_shares_match_the_config(lesson_world):
    users, cohorts = lesson_world.users, lesson_world.config.population.cohorts
    n = len(users)
    counts = users["cohort"].value_counts()
    for c in cohorts:
        assert_within_sigmas(counts.get(c.name, 0), n * c.share, n * c.share * (1 - c.share), what=c.name)


def test_channel_shares_within_each_cohort_match_the_config(lesson_world):
    users = lesson_world.users
    for c in lesson_world.config.population.cohorts:
        members = users.loc[users["cohort"] == c.name, "channel"]
        total = sum(c.channels.values())
        for channel, weight in c.channels.items():
            p = weight / total
            assert_within_sigmas((members == channel).sum(), len(members) * p, len(members) * p * (1 - p),
                                 what=f"{c.name}/{channel}")


def test_takeover_bursts_are_reported_at_the_configured_rate(lesson_world):
    txns, p = lesson_world.transactions, lesson_world.config.chargebacks.report_probability
    charged = txns["txn_id"].isin(lesson_world.chargebacks["txn_id"])
    per_burst = charged[is_takeover(txns)].groupby(txns.loc[is_takeover(txns), "device_id"]).any()
    n = len(per_burst)
    assert n >= 50, "too few bursts for a meaningful rate"
    assert_within_sigmas(per_burst.sum(), n * p, n * p * (1 - p), what="reported bursts")


def test_new_account_fraud_is_reported_at_the_configured_rate(lesson_world):
    txns, p = lesson_world.transactions, lesson_world.config.chargebacks.report_probability
    fraud = txns[txns["fraud_scenario"] == "new_account"]
    n = len(fraud)
    assert n >= 50, "too few new-account frauds for a meaningful rate"
    reported = fraud["txn_id"].isin(lesson_world.chargebacks["txn_id"]).sum()
    assert_within_sigmas(reported, n * p, n * p * (1 - p), what="reported new-account frauds")


def test_friendly_fraud_rate_matches_the_config(lesson_world):
    txns, rate = lesson_world.transactions, lesson_world.config.chargebacks.friendly_fraud_rate
    legit = txns[~txns["is_fraud"]]
    disputed = legit["txn_id"].isin(lesson_world.chargebacks["txn_id"]).sum()
    n = len(legit)
    assert_within_sigmas(disputed, n * rate, n * rate * (1 - rate), what="friendly disputes")


def own_purchases(world) -> pd.DataFrame:
    """The users' own (non-takeover) purchases in per-user order, with signup, cohort and tenure."""
    own = world.transactions[~is_takeover(world.transactions)]
    own = own.merge(world.users[["user_id", "signup_time", "cohort"]], on="user_id", validate="many_to_one")
    own = own.sort_values(["user_id", "event_time", "txn_id"], ignore_index=True)
    own["tenure"] = own["event_time"] - own["signup_time"]
    return own


def test_new_account_fraud_count_matches_its_expectation_per_cohort(lesson_world):
    """An own purchase made within the cohort's warm_within_days of the user's previous own
    purchase is new-account fraud with new_account_probability(cohort, tenure, amount z-score);
    a first purchase, or one after a longer pause, never is."""
    cfg = lesson_world.config
    own = own_purchases(lesson_world)
    names = [c.name for c in cfg.population.cohorts]
    cohort_index = pd.Categorical(own["cohort"], categories=names).codes
    p = new_account_probability(cfg, cohort_index, (own["tenure"] / pd.Timedelta(days=1)).to_numpy(),
                                amount_z(cfg, own["amount"].to_numpy()))
    since_previous = own.groupby("user_id")["event_time"].diff()  # NaT for the first purchase
    within = pd.to_timedelta(np.array([c.warm_within_days for c in cfg.population.cohorts])[cohort_index], unit="D")
    p = np.where((since_previous <= within).to_numpy(), p, 0.0)
    fraud = (own["fraud_scenario"] == "new_account").to_numpy()
    assert fraud.sum() > 0
    assert not fraud[p == 0].any(), "new-account fraud where it is impossible (warm-up or a risk-free cohort)"
    for k, name in enumerate(names):
        sel = cohort_index == k
        assert_within_sigmas(fraud[sel].sum(), p[sel].sum(), (p[sel] * (1 - p[sel])).sum(), what=name)


def test_takeover_burst_count_matches_its_expectation(lesson_world):
    """Each own purchase at a tenure of at least takeover_min_tenure_days starts a burst with
    takeover_probability, an exponential delay (mean takeover_start_mean_hours) later; a burst
    that would start after the horizon is dropped, so a purchase at time t counts with the
    chance that its burst starts in time."""
    f = lesson_world.config.fraud
    _, end = horizon_bounds(lesson_world)
    own = own_purchases(lesson_world)
    eligible = own[own["tenure"] >= pd.Timedelta(days=f.takeover_min_tenure_days)]
    in_time = 1 - np.exp(-((end - eligible["event_time"]) / pd.Timedelta(hours=f.takeover_start_mean_hours)).to_numpy())
    p = f.takeover_probability * in_time
    observed = len(takeover_bursts(lesson_world.transactions))
    assert_within_sigmas(observed, p.sum(), (p * (1 - p)).sum(), what="takeover bursts")


def test_share_of_peak_windows_with_an_outage_matches_the_config(long_world):
    """Each day, each peak window has an outage with probability_per_peak.

    A window also counts when an off-peak outage overlaps it; that small chance
    (Poisson, offpeak_per_day, over the window plus a mean outage) is added to the
    expectation rather than hidden in the tolerance.
    """
    o = long_world.config.outages
    start, _ = horizon_bounds(long_world)
    days = long_world.config.horizon.days
    out = long_world.outages
    mean_minutes = o.duration_minutes_median * np.exp(o.duration_sigma ** 2 / 2)
    for lo_h, hi_h in o.peak_windows_hours:
        lo = start + pd.to_timedelta(np.arange(days), unit="D") + pd.Timedelta(hours=lo_h)
        hi = lo + pd.Timedelta(hours=hi_h - lo_h)
        hit = ((out["start_time"].to_numpy()[None, :] < hi.to_numpy()[:, None])
               & (out["end_time"].to_numpy()[None, :] > lo.to_numpy()[:, None])).any(axis=1)
        offpeak = 1 - np.exp(-o.offpeak_per_day * ((hi_h - lo_h) + mean_minutes / 60) / 24)
        p = o.probability_per_peak + (1 - o.probability_per_peak) * offpeak
        assert_within_sigmas(hit.sum(), days * p, days * p * (1 - p), what=f"peak window {lo_h}-{hi_h}h")


def test_requests_inside_outages_fail_at_the_outage_failure_rate(lesson_world):
    log = lesson_world.serving_log.set_index("txn_id")
    times = lesson_world.transactions.set_index("txn_id")["event_time"].loc[log.index]
    rate = outage_failure_rate(lesson_world.outages, times)
    inside = rate > 0
    failed = (log["txn_count_last_24h_status"] == "unavailable").to_numpy()
    r = rate[inside]
    assert inside.sum() > 1000
    assert_within_sigmas(failed[inside].sum(), r.sum(), (r * (1 - r)).sum(), what="failed requests in outages")
