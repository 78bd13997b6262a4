"""A one-screen summary of a world: its size, its fraud, and its two clocks.

:func:`summarize` turns a :class:`~simulator.world.World` into tidy numbers
(plain ints, floats and strings; ``None`` where a number does not exist, e.g.
a delay quantile of a world without chargebacks); :func:`format_summary`
prints them. The ``fraudworld`` command shows it after writing a world.

Time semantics: a transaction happens at ``event_time``; its chargeback is
known from ``reported_at``. The report delay is ``reported_at - event_time``
(always positive), in hours. The "first" and "last 7 days" are the first and
last seven days of the horizon, by ``event_time``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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


def _rate(flags: pd.Series) -> float | None:
    return float(flags.mean()) if len(flags) else None


def summarize(world: World) -> dict:
    """Tidy numbers describing ``world`` (see the module docstring for their time semantics)."""
    config = world.config
    txns, users = world.transactions, world.users
    cohort = txns["user_id"].map(users.set_index("user_id")["cohort"])
    by_cohort = txns["is_fraud"].groupby(cohort, observed=False)

    event = txns.set_index("txn_id")["event_time"]
    delay_hours = (world.chargebacks["reported_at"].to_numpy()
                   - event.reindex(world.chargebacks["txn_id"]).to_numpy()) / HOUR
    quantiles = np.quantile(delay_hours, DELAY_QUANTILES) if len(delay_hours) else [None] * len(DELAY_QUANTILES)

    existing = [c.name for c in config.population.cohorts if c.tenure_at_start_days is not None]
    is_new = ~cohort.isin(existing)
    start = pd.Timestamp(config.horizon.start)
    first = txns["event_time"] < start + pd.Timedelta(days=WINDOW_DAYS)
    last = txns["event_time"] >= start + pd.Timedelta(days=config.horizon.days - WINDOW_DAYS)
    outages = world.outages
    return {
        "seed": world.seed,
        "start": start.date().isoformat(),
        "days": config.horizon.days,
        "rows": {name: len(getattr(world, name)) for name in TABLES},
        "fraud_rate": _rate(txns["is_fraud"]),
        "fraud_transactions": int(txns["is_fraud"].sum()),
        "transactions_by_cohort": {str(k): int(v) for k, v in by_cohort.size().items()},
        "fraud_rate_by_cohort": {str(k): (None if np.isnan(v) else float(v)) for k, v in by_cohort.mean().items()},
        "report_delay_hours": {f"p{round(q * 100)}": (None if v is None else float(v))
                               for q, v in zip(DELAY_QUANTILES, quantiles)},
        "outage_count": len(outages),
        "outage_hours": float((outages["end_time"] - outages["start_time"]).sum() / HOUR),
        "existing_cohorts": existing,
        "new_cohort_share": {"first_7_days": _rate(is_new[first]), "last_7_days": _rate(is_new[last])},
    }


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
