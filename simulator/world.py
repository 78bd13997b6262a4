"""The world: generating every table, shard by shard, from one config and one seed.

Users are split into shards of :data:`SHARD_SIZE` consecutive ids. Everything
per user (activity, fraud, chargebacks, batch snapshots, serving log) depends
only on the user's shard, on the small global tables (merchants, outages, the
batch calendar) and on random streams derived from ``(seed, component,
shard)``; so shards can be generated one at a time, in any grouping, with the
same result. Rows are ordered by shard, then by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from .config import WorldConfig, preset, validate
from .features import BATCH_FEATURES, batch_snapshots, serving_log, window_aggregates
from .fraud import SCENARIOS, label_new_account_fraud, make_takeovers
from .labels import report_times
from .outages import Outages, make_outages
from .population import Merchants, make_merchants, make_users, shard_user_ids
from .rng import check_seed, component_rng
from .timebase import MS_PER_HOUR, Rhythm, batch_schedule, to_timestamp
from .transactions import DEVICES_PER_USER, group_starts, make_legit

SHARD_SIZE = 2048
NEW_DEVICE_HOURS = 24  # is_new_device: the device's first purchase (for this user) was this recent
TABLES = ("users", "merchants", "transactions", "chargebacks", "outages", "batch_features", "serving_log")
GLOBAL_TABLES = ("merchants", "outages")


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
    """The per-user tables of one shard; transaction ids start at ``txn_offset``."""
    def rng(component):
        return component_rng(seed, component, shard)

    users = make_users(config, rng("users"), shard_user_ids(config, shard, SHARD_SIZE))
    legit = make_legit(config, rng("activity"), users, g.merchants, g.rhythm)
    ato = make_takeovers(config, rng("takeover"), users, g.merchants, legit)
    n_legit = len(legit["t"])
    cols = {k: np.concatenate([legit[k], ato[k]]) for k in ("user", "t", "amount", "merchant_id", "device_id")}
    scenario = np.concatenate([np.zeros(n_legit, np.int8), np.ones(len(ato["t"]), np.int8)])
    scenario[:n_legit][label_new_account_fraud(config, rng("new_account"), users, legit["user"], legit["t"],
                                               legit["amount"])] = 2
    burst = np.concatenate([np.full(n_legit, -1), ato["burst"]])
    burst_start = np.concatenate([np.zeros(n_legit, np.int64), ato["burst_start"]])
    reported = report_times(config, rng("chargebacks"), cols["t"], scenario, burst, burst_start)

    # Per-user order (for devices and online features), then time order (for ids and output).
    by_user = np.lexsort((cols["t"], cols["user"]))
    user, t, device = cols["user"][by_user], cols["t"][by_user], cols["device_id"][by_user]
    new_device = recently_first_seen(device, t) & (device % DEVICES_PER_USER != 0)
    aggregates = window_aggregates(user, t, cols["amount"][by_user])
    failed = rng("serving").random(len(t)) < g.outages.failure_rate_at(t)

    by_time = np.lexsort((cols["user"], cols["t"]))  # positions in the concatenated arrays
    txn_id = np.empty(len(t), np.int64)
    txn_id[by_time] = txn_offset + np.arange(len(t))  # indexed by concatenated position
    user_ids = users.table["user_id"].to_numpy()
    merchant_mcc = g.merchants.table["mcc"]
    transactions = pd.DataFrame({
        "txn_id": txn_id[by_time],
        "user_id": user_ids[cols["user"][by_time]],
        "merchant_id": cols["merchant_id"][by_time],
        "event_time": to_timestamp(config, cols["t"][by_time]),
        "amount": np.maximum(np.round(cols["amount"][by_time], 2), 0.01),
        "device_id": cols["device_id"][by_time],
        "is_new_device": _scatter(new_device, by_user)[by_time],
        "mcc": pd.Categorical.from_codes(merchant_mcc.cat.codes.to_numpy()[cols["merchant_id"][by_time]],
                                         dtype=merchant_mcc.dtype),
        "is_fraud": scenario[by_time] > 0,
        "fraud_scenario": pd.Categorical.from_codes(scenario[by_time], categories=list(SCENARIOS)),
    })

    disputed = np.flatnonzero(reported >= 0)
    disputed = disputed[np.lexsort((txn_id[disputed], reported[disputed]))]
    chargebacks = pd.DataFrame({
        "txn_id": txn_id[disputed],
        "user_id": user_ids[cols["user"][disputed]],
        "reported_at": to_timestamp(config, reported[disputed]),
        "reason": pd.Categorical(np.where(scenario[disputed] > 0, "fraud", "friendly"),
                                 categories=["fraud", "friendly"]),
    })

    served = serving_log(txn_id[by_user], aggregates, failed)
    served = served.iloc[np.argsort(served["txn_id"].to_numpy(), kind="stable")].reset_index(drop=True)

    snap = batch_snapshots(user_ids, g.run_at, cols["user"], cols["t"], cols["amount"],
                           cols["user"][disputed], reported[disputed])
    order = np.lexsort((snap["user_id"], snap["run"]))
    batch = pd.DataFrame({
        "user_id": snap["user_id"][order],
        "run_at": to_timestamp(config, g.run_at[snap["run"][order]]),
        "available_at": to_timestamp(config, g.available_at[snap["run"][order]]),
        **{name: snap[name][order] for name in BATCH_FEATURES},
    })
    return {"users": users.table, "transactions": transactions, "chargebacks": chargebacks,
            "batch_features": batch, "serving_log": served}


def recently_first_seen(device: np.ndarray, t: np.ndarray) -> np.ndarray:
    """True where ``device`` was first used less than :data:`NEW_DEVICE_HOURS` before ``t``."""
    first_t = pd.Series(t).groupby(device).transform("min").to_numpy()
    return t - first_t < NEW_DEVICE_HOURS * MS_PER_HOUR


def _scatter(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Undo a permutation: ``out[positions[i]] = values[i]``."""
    out = np.empty_like(values)
    out[positions] = values
    return out


def global_tables(config: WorldConfig, g: Globals) -> dict[str, pd.DataFrame]:
    return {"merchants": g.merchants.table, "outages": g.outages.table(config)}


def iter_shards(config: WorldConfig, seed: int, g: Globals) -> Iterator[dict[str, pd.DataFrame]]:
    """Per-user tables shard by shard, in order, with globally consecutive transaction ids."""
    offset = 0
    for shard in range(n_shards(config)):
        tables = shard_tables(config, seed, shard, g, offset)
        offset += len(tables["transactions"])
        yield tables


def resolve(config: WorldConfig | None, seed: int) -> tuple[WorldConfig, int]:
    """The validated config (``None`` is the default preset) and seed."""
    return validate(preset("default") if config is None else config), check_seed(seed)


def with_progress(shards: Iterator, config: WorldConfig, progress: bool) -> Iterator:
    if not progress:
        return shards
    from tqdm.auto import tqdm
    return tqdm(shards, total=n_shards(config), desc="generating", unit="shard")


@dataclass(frozen=True)
class World:
    """A generated world: its tables (see the README's data contract), config and seed."""

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
        """Write ``<table>.parquet`` files and ``manifest.json`` atomically into ``path``."""
        from .storage import write_tables
        per_user = {k: v for k, v in self.tables().items() if k not in GLOBAL_TABLES}
        glob = {k: getattr(self, k) for k in GLOBAL_TABLES}
        return write_tables(path, self.config, self.seed, iter([per_user]), glob, force=force)

    @classmethod
    def load(cls, path: str | Path) -> "World":
        """Read a world written by :meth:`save` or ``fraudworld generate``."""
        from .storage import read_world
        return read_world(path)


def generate(config: WorldConfig | None = None, *, seed: int = 0, progress: bool = False) -> World:
    """Generate a world in memory (``config=None`` is the default preset)."""
    config, seed = resolve(config, seed)
    g = make_globals(config, seed)
    parts: dict[str, list[pd.DataFrame]] = {}
    for tables in with_progress(iter_shards(config, seed, g), config, progress):
        for name, df in tables.items():
            parts.setdefault(name, []).append(df)
    tables = {name: pd.concat(dfs, ignore_index=True) for name, dfs in parts.items()}
    tables.update(global_tables(config, g))
    return World(config, seed, **tables)
