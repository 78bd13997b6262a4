"""The world: generating every table, shard by shard, from one config and one seed.

Users are split into shards of :data:`SHARD_SIZE` consecutive ids. Everything
per user (activity, fraud, chargebacks, batch snapshots, serving log) depends
only on the user's shard, on the small global tables (merchants, outages, the
batch calendar) and on random streams derived from ``(seed, component,
shard)``; so shards can be generated one at a time, in any grouping, with the
same result. Rows are ordered by shard, then by time.
"""

from __future__ import annotations

import ctypes
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from .config import WorldConfig, preset, validate
from .engines import LOCAL_THREADS
from .features import BATCH_FEATURES, ONLINE_FEATURES, batch_snapshots, serving_log, window_aggregates
from .fraud import LEGIT, NEW_ACCOUNT, SCENARIOS, TAKEOVER, label_new_account_fraud, make_takeovers
from .labels import report_times
from .lookup import row_positions
from .outages import Outages, make_outages
from .population import Merchants, UserShard, make_merchants, make_users, shard_user_ids
from .rng import check_seed, component_rng
from .storage import atomic_directory, make_table_dirs, read_config, read_table, write_manifest, write_part
from .timebase import MS_PER_HOUR, Rhythm, batch_schedule, to_timestamp
from .transactions import DEVICES_PER_USER, make_legit

SHARD_SIZE = 2048
SHARD_THREADS = LOCAL_THREADS  # shards generated at a time, in threads (the tables do not depend on it)
NEW_DEVICE_HOURS = 24  # is_new_device: the device's first purchase (for this user) was this recent
SCENARIO_DTYPE = pd.CategoricalDtype(list(SCENARIOS))
REASON_DTYPE = pd.CategoricalDtype(["fraud", "friendly"])
TABLES = ("users", "merchants", "transactions", "chargebacks", "outages", "batch_features", "serving_log")
GLOBAL_TABLES = ("merchants", "outages")
PER_USER_TABLES = tuple(name for name in TABLES if name not in GLOBAL_TABLES)
TXN_TABLES = ("transactions", "chargebacks", "serving_log")  # the tables that hold txn_id


@dataclass(frozen=True)
class Globals:
    """The small tables every shard reads."""

    merchants: Merchants
    outages: Outages
    rhythm: Rhythm
    run_at: np.ndarray
    available_at: np.ndarray


def make_globals(config: WorldConfig, seed: int) -> Globals:
    run_at, available_at = batch_schedule(config, component_rng(seed, "batch_job"))
    return Globals(make_merchants(config, component_rng(seed, "merchants")),
                   make_outages(config, component_rng(seed, "outages")),
                   Rhythm(config), run_at, available_at)


def n_shards(config: WorldConfig) -> int:
    return -(-config.population.n_users // SHARD_SIZE)


def shard_tables(config: WorldConfig, seed: int, shard: int, g: Globals, txn_offset: int) -> dict[str, pd.DataFrame]:
    """The per-user tables of one shard; transaction ids start at ``txn_offset``.

    Built in steps whose working arrays are freed when the step returns, so a
    shard's memory peaks at little more than its tables.
    """
    def rng(component):
        return component_rng(seed, component, shard)

    users = make_users(config, rng("users"), shard_user_ids(config, shard, SHARD_SIZE))
    user_ids = users.table["user_id"].to_numpy()
    cols = purchases(config, rng, users, g)  # in concatenated order: legitimate, then takeovers
    reported = cols.pop("reported")
    disputed = np.flatnonzero(reported >= 0)
    batch = batch_table(config, g, user_ids, cols, disputed, reported[disputed])
    txn_id, transactions, served = purchase_tables(config, rng("serving"), g, user_ids, cols, txn_offset)
    disputed = disputed[np.lexsort((txn_id[disputed], reported[disputed]))]
    chargebacks = pd.DataFrame({
        "txn_id": txn_id[disputed],
        "user_id": user_ids[cols["user"][disputed]],
        "reported_at": to_timestamp(config, reported[disputed]),
        "reason": pd.Categorical.from_codes((cols["scenario"][disputed] == LEGIT).view(np.int8), dtype=REASON_DTYPE),
    }, copy=False)
    return {"users": users.table, "transactions": transactions, "chargebacks": chargebacks,
            "batch_features": batch, "serving_log": served}


def purchases(config: WorldConfig, rng: Callable[[str], np.random.Generator], users: UserShard, g: Globals
              ) -> dict[str, np.ndarray]:
    """A shard's purchases, legitimate then takeovers, with their ``scenario`` and ``reported`` (ms, -1: never).

    ``rng(component)`` is the shard's random stream of a component. Arrays ``user``
    (row into the shard's users), ``t`` (ms), ``amount`` (in cents), ``merchant_id``,
    ``device_id``, ``scenario``, ``reported``.
    """
    legit = make_legit(config, rng("activity"), users, g.merchants, g.rhythm)
    ato = make_takeovers(config, rng("takeover"), users, g.merchants, legit)
    n_legit = len(legit["t"])
    cols = {k: np.concatenate([legit[k], ato[k]]) for k in ("user", "t", "amount", "merchant_id", "device_id")}
    # Amounts are charged in cents: features and the table see the same rounded amount.
    cols["amount"] = np.maximum(np.round(cols["amount"], 2), 0.01)
    scenario = np.concatenate([np.full(n_legit, LEGIT, np.int8), np.full(len(ato["t"]), TAKEOVER, np.int8)])
    scenario[:n_legit][label_new_account_fraud(config, rng("new_account"), users, legit["user"], legit["t"],
                                               cols["amount"][:n_legit])] = NEW_ACCOUNT
    burst = np.concatenate([np.full(n_legit, -1), ato["burst"]])
    burst_start = np.concatenate([np.zeros(n_legit, np.int64), ato["burst_start"]])
    cols["reported"] = report_times(config, rng("chargebacks"), cols["t"], scenario, burst, burst_start)
    cols["scenario"] = scenario
    return cols


def batch_table(config: WorldConfig, g: Globals, user_ids: np.ndarray, cols: dict[str, np.ndarray],
                disputed: np.ndarray, reported: np.ndarray) -> pd.DataFrame:
    """``batch_features`` of a shard's users, from its purchases and chargebacks (``reported`` at, ms)."""
    snap = batch_snapshots(user_ids, g.run_at, cols["user"], cols["t"], cols["amount"], cols["user"][disputed],
                           reported)
    return pd.DataFrame({  # rows come ordered by run, then user
        "user_id": snap["user_id"],
        "run_at": to_timestamp(config, g.run_at)[snap["run"]],
        "available_at": to_timestamp(config, g.available_at)[snap["run"]],
        **{name: snap[name] for name in BATCH_FEATURES},
    }, copy=False)


def purchase_tables(config: WorldConfig, rng: np.random.Generator, g: Globals, user_ids: np.ndarray,
                    cols: dict[str, np.ndarray], txn_offset: int) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Transaction ids (by concatenated position), ``transactions`` and ``serving_log`` of a shard.

    Devices and online features are computed in per-user order, rows are
    written in time order. Both are stable: rows that tie keep their order in
    the concatenated arrays.
    """
    by_user = stable_order(cols["user"], cols["t"])
    t, device = cols["t"][by_user], cols["device_id"][by_user]
    new_device = recently_first_seen(device, t) & (device % DEVICES_PER_USER != 0)
    del device
    failed = rng.random(len(t)) < g.outages.failure_rate_at(t)
    # Rows in per-user order taken in time order. Among equal times the per-user order is by
    # user, then concatenated position, so a stable sort by time alone orders by (t, user).
    user_to_time = stable_argsort(t)
    time_ids = txn_offset + np.arange(len(t), dtype=np.int64)  # transaction ids in time order
    aggregates = window_aggregates(cols["user"][by_user], t, cols["amount"][by_user])
    del t
    served = serving_log(time_ids.copy(), {  # in time order; only the count of a count feature is read
        name: (value[user_to_time] if ONLINE_FEATURES[name][0] == "mean" else None, count[user_to_time])
        for name, (value, count) in aggregates.items()}, failed[user_to_time])
    del aggregates, failed

    by_time = by_user[user_to_time]  # positions in the concatenated arrays
    del by_user
    txn_id = np.empty(len(by_time), np.int64)
    txn_id[by_time] = time_ids  # indexed by concatenated position
    merchant_mcc = g.merchants.table["mcc"]
    merchant, scenario = cols["merchant_id"][by_time], cols["scenario"][by_time]
    transactions = pd.DataFrame({  # copy=False: the columns are fresh arrays, not shared
        "txn_id": time_ids,
        "user_id": user_ids[cols["user"][by_time]],
        "merchant_id": merchant,
        "event_time": to_timestamp(config, cols["t"][by_time]),
        "amount": cols["amount"][by_time],
        "device_id": cols["device_id"][by_time],
        "is_new_device": new_device[user_to_time],
        "mcc": pd.Categorical.from_codes(merchant_mcc.cat.codes.to_numpy()[merchant], dtype=merchant_mcc.dtype,
                                         validate=False),  # codes of a categorical: valid by construction
        "is_fraud": scenario != LEGIT,
        "fraud_scenario": pd.Categorical.from_codes(scenario, dtype=SCENARIO_DTYPE, validate=False),
    }, copy=False)
    return txn_id, transactions, served


def recently_first_seen(device: np.ndarray, t: np.ndarray) -> np.ndarray:
    """True where ``device`` was first used less than :data:`NEW_DEVICE_HOURS` before ``t``."""
    if not len(device):
        return np.zeros(0, dtype=bool)
    lo = int(device.min())
    span = int(device.max()) - lo + 1
    if span <= 4 * len(device) + 65_536:  # a shard's device ids are dense: a table indexed by id
        first = np.full(span, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first, device - lo, t)
        first_t = first[device - lo]
    else:
        first_t = pd.Series(t).groupby(device).transform("min").to_numpy()
    return t - first_t < NEW_DEVICE_HOURS * MS_PER_HOUR


def stable_argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, kind="stable")`` for integers, faster.

    When the value range and the row numbers fit in one int64, the order is
    read off a plain (SIMD) sort of ``value << bits | row``.
    """
    n = len(values)
    if not n:
        return np.zeros(0, dtype=np.intp)
    lo = int(values.min())
    bits = max(1, (n - 1).bit_length())
    if int(values.max()) - lo >= 2 ** (62 - bits):
        return np.argsort(values, kind="stable")
    key = ((values.astype(np.int64) - lo) << bits) | np.arange(n, dtype=np.int64)
    key.sort()
    key &= (1 << bits) - 1
    return key.astype(np.intp, copy=False)


def stable_order(major: np.ndarray, minor: np.ndarray) -> np.ndarray:
    """The stable sort order by ``(major, minor)``: ``np.lexsort((minor, major))``, faster.

    Both are integer arrays; they are packed into one int64 key when it fits.
    """
    if not len(major):
        return np.zeros(0, dtype=np.intp)
    a_lo, b_lo = int(major.min()), int(minor.min())
    span = int(minor.max()) - b_lo + 1
    if (int(major.max()) - a_lo + 1) * span >= 2 ** 62:
        return np.lexsort((minor, major))
    return stable_argsort((major.astype(np.int64) - a_lo) * span + (minor.astype(np.int64) - b_lo))


def global_tables(config: WorldConfig, g: Globals) -> dict[str, pd.DataFrame]:
    return {"merchants": g.merchants.table, "outages": g.outages.table(config)}


def iter_shards(config: WorldConfig, seed: int, g: Globals, threads: int | None = None
                ) -> Iterator[dict[str, pd.DataFrame]]:
    """Per-user tables shard by shard, in order, with globally consecutive transaction ids.

    With ``threads > 1``, shards are generated ahead in background threads (numpy
    releases the GIL): the first shard alone, so its tables reach the consumer
    before other work starts, then up to ``threads`` at a time. Shards are
    independent, so the tables are the same either way; ids are numbered from 0
    in a shard and shifted once the previous shards' sizes are known.
    """
    total = n_shards(config)
    threads = SHARD_THREADS if threads is None else threads
    if threads <= 1 or total <= 1:
        offset = 0
        for shard in range(total):
            tables = shard_tables(config, seed, shard, g, offset)
            offset += len(tables["transactions"])
            yield tables
        return
    pool = ThreadPoolExecutor(threads, thread_name_prefix="fraudworld-shard")
    pending: deque[Future] = deque()
    try:
        offset = submitted = 0
        for shard in range(total):
            while submitted < (1 if shard == 0 else min(total, shard + threads)):
                pending.append(pool.submit(shard_tables, config, seed, submitted, g, 0))
                submitted += 1
            tables = pending.popleft().result()
            yield with_txn_offset(tables, offset)
            offset += len(tables["transactions"])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def with_txn_offset(tables: dict[str, pd.DataFrame], offset: int) -> dict[str, pd.DataFrame]:
    """A shard's tables with its transaction ids (numbered from 0) shifted by ``offset``: new frames
    where ids change, ``tables`` itself untouched (a task run again shifts from 0 again)."""
    if not offset:
        return tables
    return {name: df.assign(txn_id=df["txn_id"].to_numpy() + offset) if name in TXN_TABLES else df
            for name, df in tables.items()}


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (glibc's ``malloc_trim``; a no-op elsewhere).

    Freed arrays otherwise leave holes that count as resident memory, so the
    peak would be the shards' parts *plus* the concatenated tables.
    """
    global _malloc_trim
    if _malloc_trim is None:
        try:
            _malloc_trim = ctypes.CDLL(None).malloc_trim
        except Exception:  # not glibc (macOS, musl, Windows): nothing to do
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None


def resolve(config: WorldConfig | None, seed: int) -> tuple[WorldConfig, int]:
    """The validated config (``None`` is the default preset) and seed."""
    return validate(preset("default") if config is None else config), check_seed(seed)


def with_progress(shards: Iterator, config: WorldConfig, progress: bool) -> Iterator:
    if not progress:
        return shards
    from tqdm.auto import tqdm
    return tqdm(shards, total=n_shards(config), desc="generating", unit="shard")


@dataclass(frozen=True, eq=False)
class World:
    """A generated world: its tables (see the README's data contract), config and seed.

    Compared and hashed by identity; its tables are read-only by convention
    (derived values are computed once per World object).
    """

    config: WorldConfig
    seed: int
    users: pd.DataFrame = field(repr=False)
    merchants: pd.DataFrame = field(repr=False)
    transactions: pd.DataFrame = field(repr=False)
    chargebacks: pd.DataFrame = field(repr=False)
    outages: pd.DataFrame = field(repr=False)
    batch_features: pd.DataFrame = field(repr=False)
    serving_log: pd.DataFrame = field(repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {name: getattr(self, name) for name in TABLES}

    def save(self, path: str | Path, *, force: bool = False) -> Path:
        """Write the world atomically into ``path``: a Parquet dataset per table, one part per user
        shard (see :mod:`simulator.storage`), and ``manifest.json``; what generation writes."""
        with atomic_directory(path, force=force) as tmp:
            make_table_dirs(tmp, TABLES)
            parts = {name: [write_part(tmp, name, 0, getattr(self, name))] for name in GLOBAL_TABLES}
            shards = n_shards(self.config)
            for name in PER_USER_TABLES:
                table = getattr(self, name)
                parts[name] = [write_part(tmp, name, s, part) for s, part in enumerate(self._by_shard(table, shards))]
            write_manifest(tmp, self.config, self.seed, parts, shard_size=SHARD_SIZE, shards=shards)
        return Path(path)

    def _by_shard(self, table: pd.DataFrame, shards: int) -> list[pd.DataFrame]:
        """``table``'s rows of each user shard, in their order (a per-purchase table without ``user_id``
        finds its users through the transactions)."""
        if "user_id" in table:
            user = table["user_id"].to_numpy()
        else:
            row = row_positions(self.transactions["txn_id"].to_numpy(), table["txn_id"].to_numpy(), "txn_id")
            if (row < 0).any():
                raise ValueError(f"serving_log: {int((row < 0).sum())} rows have a txn_id the transactions do not")
            user = self.transactions["user_id"].to_numpy()[row]
        shard = user // SHARD_SIZE
        if len(shard) and not 0 <= shard.min() <= shard.max() < shards:
            raise ValueError(f"user_id: a row's user is outside the world's {self.config.population.n_users:,} users")
        order = stable_argsort(shard) if len(shard) > 1 and (shard[1:] < shard[:-1]).any() else None
        if order is not None:
            table, shard = table.iloc[order], shard[order]
        bounds = np.searchsorted(shard, np.arange(shards + 1))
        return [table.iloc[lo:hi].reset_index(drop=True) for lo, hi in zip(bounds[:-1], bounds[1:])]

    @classmethod
    def load(cls, path: str | Path) -> "World":
        """Read a world written by :meth:`save` or ``fraudworld generate`` (or one of old, with one
        ``<table>.parquet`` file per table)."""
        return read_world(path)


def read_shard(path: str | Path, shard: int) -> World:
    """One user shard of a saved world, as a World: that shard's rows of the per-user tables, in the
    world's order and with world-wide ``txn_id``, and the whole global tables (``partial(read_shard,
    path)`` is a picklable loader for tasks; safe to call from many at once)."""
    return read_world(path, shard=shard)


def read_world(path: str | Path, *, shard: int | None = None) -> World:
    """Load a saved world: every table, with its config and seed; or, with ``shard``, only that user
    shard's rows of the per-user tables (and the whole global tables)."""
    config, seed = read_config(path)
    return World(config, seed, **{name: read_table(path, name, shard=None if name in GLOBAL_TABLES else shard)
                                  for name in TABLES})


def generate(config: WorldConfig | None = None, *, seed: int = 0, progress: bool = False) -> World:
    """Generate a world in memory (``config=None`` is the default preset)."""
    config, seed = resolve(config, seed)
    g = make_globals(config, seed)
    parts: dict[str, list[pd.DataFrame]] = {}
    for tables in with_progress(iter_shards(config, seed, g), config, progress):
        for name, df in tables.items():
            parts.setdefault(name, []).append(df)
    tables = {}
    for name in list(parts):  # one table at a time, releasing its parts: peak memory is the parts + one table
        tables[name] = pd.concat(parts.pop(name), ignore_index=True)
        release_free_memory()
    tables.update(global_tables(config, g))
    return World(config, seed, **tables)
