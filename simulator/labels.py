"""Chargebacks, and what is known about fraud at a given time.

Time semantics: a chargeback's ``reported_at`` is when the dispute reaches the
platform; it is always after the purchase's ``event_time`` and may fall after
the horizon (the world keeps the eventual truth, so production can be judged
on mature labels). A label is *known as of* ``t`` only if ``reported_at <= t``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import ReportDelay, WorldConfig
from .fraud import LEGIT, NEW_ACCOUNT, TAKEOVER
from .population import categorical
from .timebase import MS_PER_HOUR, MS_PER_MINUTE

MIN_DELAY_MS = MS_PER_MINUTE  # nobody disputes a purchase before it has happened


def sample_delay_ms(rng: np.random.Generator, components: tuple[ReportDelay, ...], n: int) -> np.ndarray:
    """Report delays (ms) from a mixture of log-normal components."""
    k = categorical(rng.random(n), [c.weight for c in components])
    median = np.array([c.median_hours for c in components])[k]
    sigma = np.array([c.sigma for c in components])[k]
    hours = median * np.exp(sigma * rng.standard_normal(n))
    return np.maximum(np.round(hours * MS_PER_HOUR).astype(np.int64), MIN_DELAY_MS)


def report_times(config: WorldConfig, rng: np.random.Generator, t: np.ndarray, scenario: np.ndarray,
                 burst: np.ndarray, burst_start: np.ndarray) -> np.ndarray:
    """``reported_at`` (ms) for every purchase, or -1 where it is never disputed.

    A takeover burst is one incident: the cardholder reports it once, a delay
    after it started, and every purchase of the burst is charged back then (or
    a minute after the purchase, for purchases made after the report). New-account
    fraud is reported purchase by purchase; a few legitimate purchases are
    disputed anyway (friendly fraud).
    """
    cb = config.chargebacks
    n = len(t)
    reported = np.full(n, -1, dtype=np.int64)
    # One stream per mechanism: more takeovers must not move the reports (and so the
    # account closures) of first-party fraud.
    takeover_rng, first_party_rng, friendly_rng = rng.spawn(3)

    ato = scenario == TAKEOVER
    bursts, inverse = np.unique(burst[ato], return_inverse=True)
    burst_reported = takeover_rng.random(len(bursts)) < cb.report_probability
    burst_delay = sample_delay_ms(takeover_rng, cb.takeover_delays, len(bursts))
    at = burst_start[ato] + burst_delay[inverse]
    reported[ato] = np.where(burst_reported[inverse], np.maximum(at, t[ato] + MIN_DELAY_MS), -1)

    naf = np.flatnonzero(scenario == NEW_ACCOUNT)
    nf_reported = first_party_rng.random(len(naf)) < cb.report_probability
    reported[naf] = np.where(nf_reported, t[naf] + sample_delay_ms(first_party_rng, cb.new_account_delays, len(naf)),
                             -1)

    legit = np.flatnonzero(scenario == LEGIT)
    friendly = legit[friendly_rng.random(len(legit)) < cb.friendly_fraud_rate]
    reported[friendly] = t[friendly] + sample_delay_ms(friendly_rng, (cb.friendly_delay,), len(friendly))
    return reported


def known_fraud_as_of(transactions: pd.DataFrame, chargebacks: pd.DataFrame, as_of) -> pd.Series:
    """The label a team extracting data at ``as_of`` would see: a chargeback reported by then.

    Friendly-fraud disputes count as positives (the team cannot tell them
    apart); fraud not yet reported counts as negative.
    """
    reported = chargebacks.loc[chargebacks["reported_at"] <= pd.Timestamp(as_of), "txn_id"]
    return transactions["txn_id"].isin(reported).rename("label")


def eventual_label(transactions: pd.DataFrame, chargebacks: pd.DataFrame) -> pd.Series:
    """The label once every dispute is in: a chargeback was ever reported."""
    return transactions["txn_id"].isin(chargebacks["txn_id"]).rename("label")
