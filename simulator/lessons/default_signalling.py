"""Lesson 2 -- default signalling: when "missing" is filled with 0, 0 means "new user".

In the training window, ``avg_txn_amount_last_7_days`` is absent only for users
with no purchase in the last week -- newcomers and dormant users, who rarely
commit fraud -- so a zero-filled value becomes a proxy for "safe". In
production the online feature service times out at peak hours; active users'
features come back ``unavailable``, are filled with the same 0, and look new.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from dataclasses import dataclass

from ..cache import cached_results
from ..evaluate import (FLAGGED, alerts, checkpoint_table, frame_metrics, metrics_by, threshold_at_alert_rate,
                        weighted_means, weights_of)
from ..experiment import Experiment, Timeline, run
from ..features import ONLINE_FEATURES, STATUSES
from ..lookup import by_txn_id
from ..pipelines import CORRECT, SERVED_UNAVAILABLE, ModelTable, online_features
from ..sample import WEIGHT
from ..world import World

FEATURE = "avg_txn_amount_last_7_days"
NAIVE = CORRECT.but(missing="zero", online_source="recomputed")
VARIANTS = {
    "zero fill": NAIVE,
    "NaN, NaN-aware trees": CORRECT.but(missing="nan", online_source="recomputed"),
    "indicator, trained on recomputed features": CORRECT.but(online_source="recomputed"),
    "indicator, trained on served features": CORRECT,
    "degraded-mode model (no online features)": CORRECT.but(online_source="none"),
}
DEGRADED = "zero fill + degraded-mode fallback"
AVAILABILITY_ALERT = 0.05  # share of a clock hour's requests served 'unavailable' that raises an alert


def fraud_rate_by_value(table: ModelTable, feature: str = FEATURE, *, n_bins: int = 10) -> pd.DataFrame:
    """The article's ``groupby(feature)["is_fraud"].mean()``, bucketed: zero on its own, then deciles.

    Returns ``bucket`` (ordered), ``rows``, ``frauds``, ``fraud_rate``,
    ``share`` of rows, and ``relative_rate`` (fraud rate / overall rate).
    """
    frame = table.frame
    value = frame[feature].to_numpy(dtype=float)
    label = frame["label"].to_numpy()
    positive = value > 0
    edges = np.unique(np.quantile(value[positive], np.linspace(0, 1, n_bins + 1)))
    names = ["0 (default)"] + [f"{lo:,.0f}-{hi:,.0f}" for lo, hi in zip(edges[:-1], edges[1:])]
    code = np.where(positive, np.clip(np.searchsorted(edges, value, side="right"), 1, len(edges) - 1), 0)
    bucket = pd.Categorical.from_codes(code, categories=names, ordered=True)
    out = pd.DataFrame({"bucket": bucket, "label": label}).groupby("bucket", observed=False)["label"].agg(
        rows="size", frauds="sum").reset_index()
    out["fraud_rate"] = out["frauds"] / out["rows"]
    out["share"] = out["rows"] / out["rows"].sum()
    out["relative_rate"] = out["fraud_rate"] / label.mean()
    return out


def who_is_zero(table: ModelTable, feature: str = FEATURE) -> pd.DataFrame:
    """Who sits in the zero bucket: newcomers (tenure under a week) or dormant users, by cohort."""
    frame = table.frame[table.frame[feature] == 0]
    kind = np.where(frame["tenure_days"] < 7, "newcomer (tenure < 7 days)", "dormant (no purchase in 7 days)")
    out = frame.assign(kind=kind).groupby(["kind", "cohort"], observed=True)["label"].agg(
        rows="size", frauds="sum").reset_index()
    out["fraud_rate"] = out["frauds"] / out["rows"]
    return out


def availability(frame: pd.DataFrame) -> np.ndarray:
    """``'unavailable'`` or ``'served'`` per purchase: did the online service answer at decision time?"""
    return np.where(frame[SERVED_UNAVAILABLE].to_numpy(), "unavailable", "served")


def with_degraded_mode(main: pd.DataFrame, fallback: pd.DataFrame) -> pd.DataFrame:
    """Production with a degraded mode: the ``fallback`` model's scores where online features were
    unavailable, the ``main`` model's elsewhere (two scored frames of the same purchases).

    The main model keeps scoring whenever the online service answered (a 0
    for "no history" means the same in training and serving); when a request
    failed, the purchase goes to a model that needs no online features instead
    of to the main model with zeros. ``score`` is the main model's probability
    on served purchases and the fallback's on the others; alerts (``flagged``) give each mode its share of
    the review budget -- the top 1% of each -- so the fallback's blunter
    scores do not lose the whole queue to the main model's sharper ones.
    """
    if not main["txn_id"].equals(fallback["txn_id"]):
        raise ValueError("fallback: scored a different set of purchases than the main model")
    down = main[SERVED_UNAVAILABLE].to_numpy()
    score = np.where(down, fallback["score"].to_numpy(), main["score"].to_numpy())
    weight = main[WEIGHT].to_numpy()
    flagged = np.zeros(len(score), dtype=bool)
    for mode in (down, ~down):
        flagged[mode] = score[mode] >= threshold_at_alert_rate(score[mode], weight=weight[mode])
    return main.assign(score=score, **{FLAGGED: flagged})


def recall_by_availability(experiments: dict[str, Experiment]) -> pd.DataFrame:
    """Production recall and precision at the alert rate, on served vs unavailable rows, per strategy.

    One threshold per strategy (the top 1% of all its production scores);
    ``ratio`` is recall on unavailable rows over recall on served rows.
    """
    frames = {name: e.production for name, e in experiments.items()}
    if "zero fill" in experiments and "degraded-mode model (no online features)" in experiments:
        frames[DEGRADED] = with_degraded_mode(experiments["zero fill"].production,
                                              experiments["degraded-mode model (no online features)"].production)
    rows = []
    for name, prod in frames.items():
        per = metrics_by(prod.assign(availability=availability(prod)), "availability").set_index("availability")
        overall = frame_metrics(prod)
        missed = missed_while_unavailable(prod)
        w = weights_of(missed)
        rows.append({"strategy": name, "recall": overall["recall_at_alert"], "pr_auc": overall["pr_auc"],
                     "recall_served": per.loc["served", "recall_at_alert"],
                     "recall_unavailable": per.loc["unavailable", "recall_at_alert"],
                     "ratio": per.loc["unavailable", "recall_at_alert"] / per.loc["served", "recall_at_alert"],
                     "frauds_unavailable": int(per.loc["unavailable", "frauds"]),
                     "missed_unavailable": int(round(w.sum())),
                     "missed_amount": float((w * missed["amount"].to_numpy()).sum())})
    return pd.DataFrame(rows)


def missed_while_unavailable(frame: pd.DataFrame) -> pd.DataFrame:
    """The scored rows of fraud that came in while the online service failed and raised no alert."""
    return frame[frame[SERVED_UNAVAILABLE].to_numpy() & frame["label"].to_numpy() & ~alerts(frame)]


def slipped_through(world: World, frame: pd.DataFrame) -> pd.DataFrame:
    """The fraud that came in while the online service failed and raised no alert, by mechanism.

    With what the service *would* have returned (recomputed afterwards): these
    are mostly active, established accounts -- not the newcomers a 0 stands for.
    """
    missed = missed_while_unavailable(frame)
    truth = online_features(world, missed, "recomputed")
    signup = world.users.set_index("user_id")["signup_time"].reindex(missed["user_id"]).to_numpy()
    detail = pd.DataFrame({
        "mechanism": missed["fraud_scenario"].astype(str).replace({"legit": "friendly"}).to_numpy(),
        "amount": missed["amount"].to_numpy(),
        "tenure_days": (missed["event_time"].to_numpy() - signup) / pd.Timedelta(days=1),
        "true_avg": truth[FEATURE].to_numpy(),
        "had_history": truth[f"{FEATURE}_status"].to_numpy() == "ok",
    })
    return detail.groupby("mechanism").agg(
        frauds=("amount", "size"), amount=("amount", "sum"), median_tenure_days=("tenure_days", "median"),
        had_7_day_history=("had_history", "mean"), median_true_avg_amount_7d=("true_avg", "median")).reset_index()


def recall_by_hour(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Production recall at the alert rate by hour of day per strategy, with the unavailable share.

    ``frames``: strategy name -> scored production rows (each with its own threshold).
    """
    out = []
    for name, prod in frames.items():
        per = metrics_by(prod.assign(hour=prod["event_time"].dt.hour), "hour")
        out.append(per[["hour", "frauds", "recall_at_alert"]].assign(strategy=name))
    prod = next(iter(frames.values()))
    unavailable = weighted_means(prod.assign(hour=prod["event_time"].dt.hour), "hour", [SERVED_UNAVAILABLE])
    frame = pd.concat(out, ignore_index=True)
    return frame.assign(unavailable_share=frame["hour"].map(unavailable[SERVED_UNAVAILABLE]))


def availability_by_hour(world: World, start=None, end=None) -> pd.DataFrame:
    """Availability monitoring: per online feature and clock hour, the share of each status.

    The serving log is what production saw; a team alerts on the
    ``unavailable`` share, not on the feature's value distribution.
    """
    tx = world.transactions[["txn_id", "event_time"]]
    if start is not None:
        tx = tx[tx["event_time"] >= pd.Timestamp(start)]
    if end is not None:
        tx = tx[tx["event_time"] < pd.Timestamp(end)]
    hours, hour = np.unique(tx["event_time"].dt.floor("h").to_numpy(), return_inverse=True)
    parts = []
    for name in ONLINE_FEATURES:
        status = by_txn_id(world.serving_log, tx["txn_id"].to_numpy(), [f"{name}_status"]).iloc[:, 0]
        code = pd.Categorical(status, categories=list(STATUSES)).codes.astype(np.int64)
        if (code < 0).any():
            raise ValueError(f"serving_log: {int((code < 0).sum())} purchases have no {name}_status; "
                             f"expected one of {STATUSES} for every purchase")
        counts = np.bincount(hour * len(STATUSES) + code, minlength=len(hours) * len(STATUSES))
        counts = counts.reshape(len(hours), len(STATUSES))
        shares = pd.DataFrame(counts / counts.sum(axis=1, keepdims=True), columns=list(STATUSES))
        parts.append(shares.assign(feature=name).assign(hour=hours)[["hour", *STATUSES, "feature"]])
    return pd.concat(parts, ignore_index=True)


def availability_alerts(shares: pd.DataFrame, *, threshold: float = AVAILABILITY_ALERT) -> pd.DataFrame:
    """The clock hours in which a feature's ``unavailable`` share exceeded ``threshold``."""
    return shares[shares["unavailable"] > threshold]


def imputer_indicator_columns(train: ModelTable, production: ModelTable) -> dict[str, list[str]]:
    """What ``SimpleImputer(add_indicator=True)`` keeps, fitted on training rows.

    scikit-learn adds a missing-indicator only for columns with missing values
    *at fit time*: a count that is never missing in the recomputed training
    data gets no indicator, so its outage NaNs in production are imputed
    silently. Returns the indicator columns at fit time and the columns that
    are missing in production.
    """
    cols = list(ONLINE_FEATURES)
    imputer = SimpleImputer(strategy="median", add_indicator=True).fit(train.frame[cols].astype(float))
    names = [n for n in imputer.get_feature_names_out(cols) if n.startswith("missingindicator_")]
    missing_in_production = [c for c in cols if production.frame[c].isna().any()]
    return {"indicators_fitted": [n.removeprefix("missingindicator_") for n in names],
            "missing_in_production": missing_in_production}


@dataclass(frozen=True)
class Results:
    """Everything lesson 2 measures on one world (tidy tables; see each function)."""

    fraud_rate_by_value: pd.DataFrame  # training window, naive (zero-filled) table
    who_is_zero: pd.DataFrame
    recall_by_availability: pd.DataFrame  # one row per strategy
    slipped_through: pd.DataFrame  # zero fill's missed fraud in unavailable rows, by mechanism
    imputer_indicators: dict  # what SimpleImputer(add_indicator=True) keeps
    recall_by_hour: pd.DataFrame  # zero fill vs the best fix
    availability: pd.DataFrame  # availability_by_hour over the production window
    peak_windows_hours: tuple


@cached_results
def results(world: World) -> Results:
    """Run lesson 2 on ``world`` with the default timeline (cached per world).

    Only production is measured here, so no variant is cross-validated.
    """
    timeline = Timeline.for_world(world)
    experiments = run(world, VARIANTS, timeline, offline=False)
    naive_table = experiments["zero fill"].table
    zero = experiments["zero fill"].production
    fixed = with_degraded_mode(zero, experiments["degraded-mode model (no online features)"].production)
    nan = experiments["NaN, NaN-aware trees"]
    return Results(fraud_rate_by_value(naive_table), who_is_zero(naive_table),
                   recall_by_availability(experiments), slipped_through(world, zero),
                   imputer_indicator_columns(nan.table, nan.production_table),
                   recall_by_hour({"zero fill": zero, DEGRADED: fixed}),
                   availability_by_hour(world, timeline.extracted_at, timeline.production_end),
                   world.config.outages.peak_windows_hours)


def signature(r: Results) -> pd.DataFrame:
    """Lesson 2's measured signature (DESIGN.md): the default as a signal, outages, and the fix."""
    by = r.recall_by_availability.set_index("strategy")
    naive, fix = by.loc["zero fill"], by.loc[DEGRADED]
    zero = r.fraud_rate_by_value.iloc[0]
    return checkpoint_table([
        ("zero bucket fraud rate / overall (training window)", zero["relative_rate"], "<=", 0.5),
        ("zero fill: recall@1% unavailable / served", naive["ratio"], "<=", 0.5),
        ("best fix: recall@1% unavailable / served", fix["ratio"], ">=", 0.75),
        ("best fix minus zero fill: production recall@1%", fix["recall"] - naive["recall"], ">=", 0.0),
        ("best fix minus zero fill: production PR AUC", fix["pr_auc"] - naive["pr_auc"], ">=", 0.0),
    ])
