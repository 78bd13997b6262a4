"""Legitimate purchases: when, where, how much, and from which device.

Time semantics: a purchase's ``event_time`` is the moment it is authorised,
which is also the decision time at which a fraud model scores it.
"""

from __future__ import annotations

import numpy as np

from .config import WorldConfig
from .population import Merchants, UserShard, pick
from .timebase import MS_PER_MINUTE, Rhythm, horizon_ms

DEVICES_PER_USER = 64  # device ids are user_id * 64 + k; k >= LEGIT_DEVICES are fraudsters'
LEGIT_DEVICES = 48


def within_group_cumsum(values: np.ndarray, group_start: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each True of ``group_start`` (sorted groups).

    ``group_start`` is True at the first element (when there is one).
    """
    total = np.cumsum(values)
    starts = np.flatnonzero(group_start)
    before = total[starts] - values[starts]
    total -= np.repeat(before, np.diff(starts, append=len(values)))
    return total


def group_starts(keys: np.ndarray) -> np.ndarray:
    """True where a sorted key array begins a new group."""
    out = np.ones(len(keys), dtype=bool)
    out[1:] = keys[1:] != keys[:-1]
    return out


def sort_by_user_time(user: np.ndarray, t: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """``(user, t)`` pairs sorted by user, then time (``0 <= t < end``), as int64.

    Only the pairs are returned, not the permutation, so tied pairs need no
    stable order: one sort of a packed int64 key (``user << bits | t``) does it.
    """
    bits = max(int(end) - 1, 1).bit_length()  # t < 2 ** bits
    if len(user) and (int(user.max()) + 1) << bits >= 2 ** 62:
        order = np.lexsort((t, user))
        return user[order].astype(np.int64, copy=False), t[order].astype(np.int64, copy=False)
    key = user.astype(np.int64)
    key <<= bits
    key |= t
    key.sort()
    t = key & ((1 << bits) - 1)
    key >>= bits
    return key, t


def make_legit(config: WorldConfig, rng: np.random.Generator, users: UserShard, merchants: Merchants,
               rhythm: Rhythm) -> dict[str, np.ndarray]:
    """Legitimate purchases of one shard's users, sorted by (user, time).

    Returns arrays ``user`` (row into the shard's users), ``t`` (ms), ``amount``,
    ``merchant_id``, ``device_id``.
    """
    a = config.activity
    end = horizon_ms(config)
    lo = np.clip(users.signup_ms, 0, end)
    n_sessions = rng.poisson(users.sessions_per_day * rhythm.expected(lo, np.full_like(lo, end)))
    s_user = np.repeat(np.arange(len(lo)), n_sessions)
    s_start = rhythm.sample(rng, lo, np.full_like(lo, end), repeats=n_sessions)
    per_session = 1 + rng.poisson(a.extra_txns_per_session, len(s_user))
    user = np.repeat(s_user, per_session)
    first = np.zeros(len(user), dtype=bool)
    first[np.cumsum(per_session) - per_session] = True
    gaps = rng.exponential(a.session_gap_minutes * MS_PER_MINUTE, len(user))
    gaps[first] = 0
    offset = within_group_cumsum(gaps, first)
    del gaps
    t = np.round(offset, out=offset).astype(np.int64)
    del offset
    t += np.repeat(s_start, per_session)
    keep = t < end
    if not keep.all():
        user, t = user[keep], t[keep]
    user, t = sort_by_user_time(user, t, end)
    n = len(t)

    amount = rng.standard_normal(n)
    amount *= config.amounts.txn_sigma
    amount += users.log_amount[user]
    np.exp(amount, out=amount)
    new_share = np.array([c.new_mcc_share for c in config.population.cohorts])[users.cohort_index[user]]
    at_new = rng.random(n) < new_share
    merchant = pick(rng, merchants.home_cdf, merchants.home_ids, n)
    merchant[at_new] = pick(rng, merchants.new_cdf, merchants.new_ids, int(at_new.sum()))

    switches = rng.random(n) < config.devices.new_device_probability
    k = np.minimum(within_group_cumsum(switches, group_starts(user)), LEGIT_DEVICES - 1)
    device = users.table["user_id"].to_numpy()[user] * DEVICES_PER_USER + k
    return {"user": user, "t": t, "amount": amount, "merchant_id": merchant, "device_id": device}
