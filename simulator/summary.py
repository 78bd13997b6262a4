"""A one-screen summary of a world: its size, its fraud, and its two clocks.

:func:`summarize` turns a :class:`~simulator.world.World` into tidy numbers
(plain ints, floats and strings; ``None`` where a number does not exist, e.g.
a delay quantile of a world without chargebacks); :func:`format_summary`
prints them. The ``fraudworld`` command shows it after writing a world,
tallied from the shards as they are written (:class:`Tally`), never by
reading the world back; :func:`summarize_saved` reads only the columns it needs.

Time semantics: a transaction happens at ``event_time``; its chargeback is
known from ``reported_at``. The report delay is ``reported_at - event_time``
(always positive), in hours. The "first" and "last 7 days" are the first and
last seven days of the horizon, by ``event_time``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from .config import WorldConfig
from .lookup import row_positions
from .storage import read_config, read_parts, read_table
from .world import TABLES, World

#: What each table is, in a phrase (the CLI's help and the summary show it).
TABLE_DESCRIPTIONS = {
    "users": "who: signup_time, cohort, region, channel",
    "merchants": "where: merchant_id, mcc (category), is_new_category, onboarded_at",
    "transactions": "purchases at event_time; is_fraud is ground truth",
    "chargebacks": "disputes (the fraud labels), known from reported_at",
    "outages": "online feature service down, [start_time, end_time)",
    "batch_features": "nightly aggregates, usable from available_at",
    "serving_log": "features as served at decision time, with status",
}
DELAY_QUANTILES = (0.10, 0.50, 0.90, 0.99)
WINDOW_DAYS = 7
HOUR = pd.Timedelta(hours=1)


class Tally:
    """The summary's numbers, accumulated chunk by chunk while a world is written or read.

    :meth:`add` takes a chunk of tables (any of :data:`~simulator.world.TABLES`);
    a chunk with ``transactions`` also holds those purchases' ``users`` and
    ``chargebacks``, as a generated shard does, and so does a whole world. Only
    counts and the chargebacks' report delays are kept, so memory does not grow
    with the purchases (the users and the few chargebacks may come whole, with
    the purchases in chunks: :meth:`add_purchases`); :meth:`summary` gives what
    :func:`summarize` gives for the world made of the chunks.
    """

    def __init__(self, config: WorldConfig, seed: int):
        self.config, self.seed = config, seed
        self.cohorts = [c.name for c in config.population.cohorts]
        self.existing = [c.name for c in config.population.cohorts if c.tenure_at_start_days is not None]
        self.start = pd.Timestamp(config.horizon.start)
        self.rows = dict.fromkeys(TABLES, 0)
        self.purchases = np.zeros(len(self.cohorts), np.int64)  # by cohort
        self.frauds = np.zeros(len(self.cohorts), np.int64)
        self.windows = np.zeros((2, 2), np.int64)  # first, last 7 days x (purchases, new cohorts' purchases)
        self.delay_hours: list[np.ndarray] = []
        self.outages: pd.DataFrame | None = None

    def add(self, chunk: Mapping[str, pd.DataFrame]) -> None:
        """Count a chunk's rows, and tally its purchases (see :meth:`add_purchases`)."""
        for name, df in chunk.items():
            if name != "transactions":
                self.rows[name] += len(df)
        if "outages" in chunk:
            self.outages = chunk["outages"]
        if "transactions" in chunk:
            self.add_purchases(chunk["transactions"], chunk["users"], chunk["chargebacks"])

    def add_purchases(self, txns: pd.DataFrame, users: pd.DataFrame, chargebacks: pd.DataFrame) -> None:
        """Tally purchases (and count them), given at least their users and their chargebacks (not counted)."""
        self.rows["transactions"] += len(txns)
        cohort_of_user = pd.Categorical(users["cohort"], categories=self.cohorts).codes
        cohort = cohort_of_user[row_positions(users["user_id"].to_numpy(), txns["user_id"].to_numpy(), "user_id")]
        fraud = txns["is_fraud"].to_numpy()
        self.purchases += np.bincount(cohort, minlength=len(self.cohorts))
        self.frauds += np.bincount(cohort[fraud], minlength=len(self.cohorts))

        # The chargebacks of these purchases, found from the purchases' side (the chargebacks are few).
        event_time = txns["event_time"].to_numpy()
        row = row_positions(chargebacks["txn_id"].to_numpy(), txns["txn_id"].to_numpy(), "txn_id")
        found = row >= 0
        self.delay_hours.append((chargebacks["reported_at"].to_numpy()[row[found]] - event_time[found]) / HOUR)

        is_new = np.isin(np.arange(len(self.cohorts)), [self.cohorts.index(name) for name in self.existing],
                         invert=True)[cohort]
        days = self.config.horizon.days
        for i, window in enumerate((event_time < np.datetime64(self.start + pd.Timedelta(days=WINDOW_DAYS)),
                                    event_time >= np.datetime64(self.start + pd.Timedelta(days=days - WINDOW_DAYS)))):
            self.windows[i] += (window.sum(), is_new[window].sum())

    def merge(self, other: "Tally") -> None:
        """Add the counts of another tally of the same world (e.g. of shards tallied elsewhere)."""
        for name, n in other.rows.items():
            self.rows[name] += n
        self.purchases += other.purchases
        self.frauds += other.frauds
        self.windows += other.windows
        self.delay_hours += other.delay_hours
        if other.outages is not None:
            self.outages = other.outages

    def summary(self) -> dict:
        """Tidy numbers describing the world (see the module docstring for their time semantics)."""
        delay_hours = np.concatenate(self.delay_hours) if self.delay_hours else np.zeros(0)
        quantiles = (np.quantile(delay_hours, DELAY_QUANTILES) if len(delay_hours)
                     else [None] * len(DELAY_QUANTILES))
        n, frauds = int(self.purchases.sum()), int(self.frauds.sum())
        outages = self.outages
        return {
            "seed": self.seed,
            "start": self.start.date().isoformat(),
            "days": self.config.horizon.days,
            "rows": dict(self.rows),
            "fraud_rate": _ratio(frauds, n),
            "fraud_transactions": frauds,
            "transactions_by_cohort": {k: int(v) for k, v in zip(self.cohorts, self.purchases)},
            "fraud_rate_by_cohort": {k: _ratio(f, v) for k, f, v in zip(self.cohorts, self.frauds, self.purchases)},
            "report_delay_hours": {f"p{round(q * 100)}": (None if v is None else float(v))
                                   for q, v in zip(DELAY_QUANTILES, quantiles)},
            "outage_count": len(outages),
            "outage_hours": float((outages["end_time"] - outages["start_time"]).sum() / HOUR),
            "existing_cohorts": list(self.existing),
            "new_cohort_share": {"first_7_days": _ratio(self.windows[0, 1], self.windows[0, 0]),
                                 "last_7_days": _ratio(self.windows[1, 1], self.windows[1, 0])},
        }


def _ratio(part, whole) -> float | None:
    return float(np.float64(part) / whole) if whole else None


def summarize(world: World) -> dict:
    """Tidy numbers describing ``world`` (see the module docstring for their time semantics)."""
    tally = Tally(world.config, world.seed)
    tally.add(world.tables())
    return tally.summary()


#: The columns the summary reads of each table; of the others it only counts the rows.
COLUMNS = {"users": ["user_id", "cohort"], "transactions": ["txn_id", "user_id", "event_time", "is_fraud"],
           "chargebacks": ["txn_id", "reported_at"], "outages": ["start_time", "end_time"]}


def summarize_saved(path: str | Path) -> dict:
    """:func:`summarize` of a world on disk, reading only the :data:`COLUMNS` it needs.

    The purchases are read one part (a generated shard) at a time, so
    memory stays flat however large the world.
    """
    config, seed = read_config(path)
    tally = Tally(config, seed)
    tables = {name: read_table(path, name, COLUMNS.get(name, [])) for name in TABLES if name != "transactions"}
    tally.add(tables)
    for txns in read_parts(path, "transactions", COLUMNS["transactions"]):
        tally.add_purchases(txns, tables["users"], tables["chargebacks"])
    return tally.summary()


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _hours(x: float | None) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def format_summary(summary: dict) -> str:
    """The summary as about twenty lines of text."""
    s = summary
    rows = s["rows"]
    lines = [f"world: seed {s['seed']}, {s['days']} days from {s['start']}",
             "", f"{'table':<16}{'rows':>12}  what"]
    lines += [f"{name:<16}{n:>12,}  {TABLE_DESCRIPTIONS.get(name, '')}" for name, n in rows.items()]
    lines += ["", f"fraud rate {_pct(s['fraud_rate'])} "
                  f"({s['fraud_transactions']:,} of {rows['transactions']:,} transactions); by cohort:"]
    lines += [f"  {name:<14}{_pct(rate):>8}  of {s['transactions_by_cohort'][name]:>10,} transactions"
              + ("  (existing)" if name in s["existing_cohorts"] else "  (new)")
              for name, rate in s["fraud_rate_by_cohort"].items()]
    delays = "   ".join(f"{q} {_hours(v)}" for q, v in s["report_delay_hours"].items())
    share = s["new_cohort_share"]
    lines += ["", "chargeback report delay, reported_at - event_time, in hours:", f"  {delays}",
              f"outages of the online feature service: {s['outage_count']:,}, "
              f"{s['outage_hours']:,.1f} hours in total",
              f"new cohorts' share of transactions: first {WINDOW_DAYS} days {_pct(share['first_7_days'])}, "
              f"last {WINDOW_DAYS} days {_pct(share['last_7_days'])}"]
    return "\n".join(lines)
