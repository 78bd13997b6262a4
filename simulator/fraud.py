"""Fraud mechanisms. Every fraudulent row records its mechanism in ``fraud_scenario``.

* ``account_takeover``: a fraudster takes over an established account that was
  active in the last days and makes a burst of purchases from a new device,
  over hours to days. These rows are *added* to the user's activity.
* ``new_account``: first-party fraud on new cohorts' accounts. It *labels*
  some of their ordinary purchases rather than adding any,
  with risk highest in the first days of tenure and rising with amount; so the
  cohorts' amount and velocity marginals stay alike while their risk at the
  same values differs.
"""

from __future__ import annotations

import numpy as np

from .config import WorldConfig
from .population import Merchants, UserShard, pick
from .timebase import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, horizon_ms
from .transactions import DEVICES_PER_USER, LEGIT_DEVICES, group_starts, within_group_cumsum

SCENARIOS = ("legit", "account_takeover", "new_account")
LEGIT, TAKEOVER, NEW_ACCOUNT = range(len(SCENARIOS))  # codes of fraud_scenario


def make_takeovers(config: WorldConfig, rng: np.random.Generator, users: UserShard, merchants: Merchants,
                   legit: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Takeover bursts anchored on legitimate purchases of established users.

    Returns arrays like :func:`simulator.transactions.make_legit` plus
    ``burst`` (incident number within the shard, shared by a burst's rows) and
    ``burst_start`` (ms), in burst order.
    """
    f = config.fraud
    tenure_ms = legit["t"] - users.signup_ms[legit["user"]]
    eligible = tenure_ms >= f.takeover_min_tenure_days * MS_PER_DAY
    anchors = np.flatnonzero(eligible & (rng.random(len(eligible)) < f.takeover_probability))
    n_bursts = len(anchors)
    start = legit["t"][anchors] + np.round(rng.exponential(f.takeover_start_mean_hours * MS_PER_HOUR,
                                                           n_bursts)).astype(np.int64)
    size = 2 + rng.poisson(f.burst_extra_txns, n_bursts)
    burst = np.repeat(np.arange(n_bursts), size)
    first = np.zeros(len(burst), dtype=bool)
    first[np.cumsum(size) - size] = True
    gaps = np.where(first, 0.0, f.burst_gap_minutes_median * MS_PER_MINUTE
                    * np.exp(f.burst_gap_sigma * rng.standard_normal(len(burst))))
    t = start[burst] + np.round(within_group_cumsum(gaps, first)).astype(np.int64)
    user = legit["user"][anchors][burst]
    n = len(t)
    amount = np.exp(users.log_amount[user] + f.burst_log_amount_uplift
                    + config.amounts.txn_sigma * rng.standard_normal(n))
    merchant = pick(rng, merchants.home_cdf, merchants.home_ids, n)
    device = (users.table["user_id"].to_numpy()[user] * DEVICES_PER_USER
              + LEGIT_DEVICES + burst % (DEVICES_PER_USER - LEGIT_DEVICES))
    keep = t < horizon_ms(config)
    out = {"user": user, "t": t, "amount": amount, "merchant_id": merchant, "device_id": device,
           "burst": burst, "burst_start": start[burst]}
    return {k: v[keep] for k, v in out.items()}


def new_account_probability(config: WorldConfig, cohort_index: np.ndarray, tenure_days: np.ndarray,
                            amount_z: np.ndarray) -> np.ndarray:
    """P(a warmed-up account's purchase is new-account fraud) by cohort, tenure (days) and amount.

    A purchase is warmed up when the account made another within the cohort's
    ``warm_within_days`` before it (see :func:`label_new_account_fraud`).

    ``(baseline + new_account * exp(-tenure / decay)) * exp(slope * z - slope**2 / 2)``,
    capped at 1, where ``z`` is the amount's z-score under the world's amount
    model (so the amount factor averages to one). The same large amount is
    ordinary for an established user and a red flag in an account's first days.
    """
    cohorts = config.population.cohorts
    base = np.array([c.baseline_fraud_rate for c in cohorts])[cohort_index]
    new = np.array([c.new_account_fraud_rate for c in cohorts])[cohort_index]
    decay = np.array([c.new_account_fraud_decay_days for c in cohorts])[cohort_index]
    slope = config.fraud.new_account_amount_slope
    p = (base + new * np.exp(-np.maximum(tenure_days, 0) / decay)) * np.exp(slope * amount_z - slope ** 2 / 2)
    return np.minimum(p, 1.0)


def amount_z(config: WorldConfig, amount: np.ndarray) -> np.ndarray:
    """How large an amount is under the world's amount model (a z-score of its log)."""
    a = config.amounts
    return (np.log(amount) - np.log(a.median)) / np.hypot(a.user_sigma, a.txn_sigma)


def label_new_account_fraud(config: WorldConfig, rng: np.random.Generator, users: UserShard,
                            user: np.ndarray, t: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Which of these legitimate purchases, sorted by (user, time), are new-account fraud."""
    cohorts = config.population.cohorts
    cohort = users.cohort_index[user]
    previous = np.concatenate([[0], t[:-1]])
    within = np.array([c.warm_within_days for c in cohorts])[cohort]
    warm = ~group_starts(user) & (t - previous <= within * MS_PER_DAY)  # used recently: warmed up
    del previous, within
    u = rng.random(len(t))
    # Only warmed-up purchases in a cohort with some risk can be fraud (elsewhere p is 0, or
    # NaN on an overflowing amount, and u < p is False): p is computed for those alone.
    risky = np.array([c.baseline_fraud_rate > 0 or c.new_account_fraud_rate > 0 for c in cohorts])
    rows = np.flatnonzero(warm & risky[cohort])
    tenure_days = (t[rows] - users.signup_ms[user[rows]]) / MS_PER_DAY
    p = new_account_probability(config, cohort[rows], tenure_days, amount_z(config, amount[rows]))
    fraud = np.zeros(len(t), dtype=bool)
    fraud[rows] = u[rows] < p
    return fraud
