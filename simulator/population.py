"""Who is in the world: users with their cohorts, and merchants with their categories.

Time semantics: ``users.signup_time`` is when the account was opened (before
the horizon for cohorts that already existed); a user transacts only after it.
``merchants.onboarded_at`` is when a merchant starts taking payments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import WorldConfig
from .timebase import MS_PER_DAY, SortedLookup, horizon_ms, to_timestamp


@dataclass(frozen=True)
class Merchants:
    """The global merchant table and what purchase sampling needs from it."""

    table: pd.DataFrame  # merchant_id, mcc, is_new_category, onboarded_at
    home_cdf: np.ndarray  # popularity CDF over home-category merchants (ids in home_ids)
    home_ids: np.ndarray
    new_cdf: np.ndarray  # popularity CDF over new-category merchants (ids in new_ids)
    new_ids: np.ndarray


def new_category_onboarded_ms(config: WorldConfig) -> int | None:
    """When new-category merchants open: the first arrival of a cohort that uses them."""
    starts = [c.arrival_fraction[0] for c in config.population.cohorts if c.new_mcc_share > 0]
    return None if not starts else int(min(starts) * horizon_ms(config))


def make_merchants(config: WorldConfig, rng: np.random.Generator) -> Merchants:
    m = config.merchants
    onboarded = new_category_onboarded_ms(config)
    n_new = 0 if onboarded is None else round(m.n_merchants * m.new_mcc_merchant_share)
    n_home = m.n_merchants - n_new
    mcc = np.concatenate([rng.choice(np.array(m.mccs), n_home),
                          rng.choice(np.array(m.new_mccs or ("0000",)), n_new)])
    popularity = rng.permutation(np.arange(1, m.n_merchants + 1, dtype=float) ** -m.popularity_exponent)
    ids = np.arange(m.n_merchants, dtype=np.int64)
    is_new = ids >= n_home
    onboarded_ms = np.where(is_new, 0 if onboarded is None else onboarded, -365 * MS_PER_DAY)
    table = pd.DataFrame({
        "merchant_id": ids,
        "mcc": pd.Categorical(mcc, categories=list(m.mccs) + list(m.new_mccs)),
        "is_new_category": is_new,
        "onboarded_at": to_timestamp(config, onboarded_ms),
    })

    def cdf(mask):
        w = popularity[mask]
        return np.cumsum(w) / w.sum() if mask.any() else np.array([1.0])

    return Merchants(table, cdf(~is_new), ids[~is_new], cdf(is_new), ids[is_new])


def categorical(u: np.ndarray, weights) -> np.ndarray:
    """Indices into ``weights`` drawn by inverse CDF from uniforms ``u`` (vectorised)."""
    cdf = np.cumsum(np.asarray(weights, float))
    return np.minimum(np.searchsorted(cdf / cdf[-1], u, side="right"), len(cdf) - 1)


def pick(rng: np.random.Generator, cdf: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws from ``ids`` with the probabilities whose cumulative sum is ``cdf``."""
    u = rng.random(n)
    index = _lookup(cdf)(u) if n >= 4096 else np.searchsorted(cdf, u, side="right")
    return ids[np.minimum(index, len(ids) - 1)]


_LOOKUPS: dict[bytes, SortedLookup] = {}


def _lookup(cdf: np.ndarray) -> SortedLookup:
    """The (cached) lookup table for ``cdf``, keyed by its contents."""
    key = np.asarray(cdf, dtype=float).tobytes()
    lookup = _LOOKUPS.get(key)
    if lookup is None:
        if len(_LOOKUPS) >= 8:
            _LOOKUPS.clear()
        lookup = _LOOKUPS[key] = SortedLookup(cdf)
    return lookup


@dataclass(frozen=True)
class UserShard:
    """The users of one shard: the public table plus per-user traits the generator uses.

    Traits are hidden ground truth (not part of the data contract): the session
    rate and the typical log-amount are drawn from one distribution for every
    cohort, which is what keeps the cohorts' amount and velocity marginals alike.
    """

    table: pd.DataFrame  # user_id, signup_time, cohort, region, channel
    cohort_index: np.ndarray
    signup_ms: np.ndarray
    sessions_per_day: np.ndarray
    log_amount: np.ndarray


def shard_user_ids(config: WorldConfig, shard: int, shard_size: int) -> np.ndarray:
    lo = shard * shard_size
    return np.arange(lo, min(lo + shard_size, config.population.n_users), dtype=np.int64)


def make_users(config: WorldConfig, rng: np.random.Generator, user_ids: np.ndarray) -> UserShard:
    cohorts = config.population.cohorts
    n = len(user_ids)
    cohort_index = categorical(rng.random(n), [c.share for c in cohorts])
    regions = sorted({c.region for c in cohorts})
    channels = sorted({ch for c in cohorts for ch in c.channels})
    u = rng.random(n)
    channel_draw = rng.random(n)
    signup_ms = np.empty(n, dtype=np.int64)
    channel_code = np.empty(n, dtype=np.int8)
    horizon = horizon_ms(config)
    for k, c in enumerate(cohorts):  # a loop over cohorts (a handful), not over users
        sel = cohort_index == k
        if c.tenure_at_start_days is not None:
            lo, hi = c.tenure_at_start_days
            signup_ms[sel] = -np.round((lo + u[sel] * (hi - lo)) * MS_PER_DAY).astype(np.int64)
        else:
            lo, hi = c.arrival_fraction
            x = u[sel] ** (1.0 / c.arrival_ramp)  # density of x on [0, 1] is ramp * x**(ramp - 1)
            signup_ms[sel] = np.round((lo + x * (hi - lo)) * horizon).astype(np.int64)
        codes = np.array([channels.index(ch) for ch in c.channels], dtype=np.int8)
        channel_code[sel] = codes[categorical(channel_draw[sel], list(c.channels.values()))]
    region_code = np.array([regions.index(c.region) for c in cohorts], dtype=np.int8)[cohort_index]
    a = config.activity
    sessions = a.sessions_per_day_median * np.exp(a.sessions_per_day_sigma * rng.standard_normal(n))
    log_amount = np.log(config.amounts.median) + config.amounts.user_sigma * rng.standard_normal(n)
    table = pd.DataFrame({
        "user_id": user_ids,
        "signup_time": to_timestamp(config, signup_ms),
        "cohort": pd.Categorical.from_codes(cohort_index, categories=[c.name for c in cohorts]),
        "region": pd.Categorical.from_codes(region_code, categories=regions),
        "channel": pd.Categorical.from_codes(channel_code, categories=channels),
    })
    return UserShard(table, cohort_index, signup_ms, sessions, log_amount)
