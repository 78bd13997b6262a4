"""Lesson 1 -- time travel: a value or a label that was not yet known at decision time.

The nightly job computes ``user_chargeback_count_last_30_days`` at 23:55 from
the chargebacks *reported* by then. Joined to purchases by calendar date, that
count lands on the morning's purchases, hours before the report existed. Joined
as of ``available_at``, each purchase gets the snapshot production could read.
Labels have the same problem: at extraction time, recent fraud is not yet
reported and looks legitimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from ..cache import cached_results
from ..evaluate import checkpoint_table, frame_metrics, weighted_mean
from ..experiment import Experiment, Timeline, evaluate, offline_vs_production, run
from ..labels import eventual_label, known_fraud_as_of
from ..pipelines import CORRECT, ModelTable, decision_rows, nightly_features
from ..world import World

FEATURE = "user_chargeback_count_last_30_days"
VARIANTS = {"naive: snapshot of the same date": CORRECT.but(point_in_time=False),
            "point in time: as of available_at": CORRECT}
MATURITY_DAYS = 30
# Production is judged on the month after deployment: over longer, the arriving cohorts of
# lesson 3 move every metric too, and this lesson's gap should have one cause.
PRODUCTION_DAYS = 30
RECENT_DAYS = 7  # "the last week before extraction"
IMMATURE = "labels as known the day the window closed"
MATURE = f"the same purchases, labels {MATURITY_DAYS} days later"


@dataclass(frozen=True)
class UserDay:
    """One user's day where the nightly count travels back in time.

    ``purchases``: the day's purchases with the count each would get from the
    naive (same-date) and point-in-time joins; ``reports``: chargebacks the
    user's account received that day; ``run_at``/``available_at``: the nightly
    job of that day.
    """

    user_id: int
    day: pd.Timestamp
    purchases: pd.DataFrame
    reports: pd.DataFrame
    run_at: pd.Timestamp
    available_at: pd.Timestamp


def one_users_day(world: World) -> UserDay:
    """Pick, deterministically, the clearest day like the article's user U123.

    A user with no chargeback in the 30 days before, then one reported during
    the day, after at least two purchases that morning -- the same-date join
    gives those purchases a count of one; production gave them zero.
    """
    run_time = pd.Timedelta(hours=world.config.batch_job.run_time.hour, minutes=world.config.batch_job.run_time.minute)
    cb = world.chargebacks.assign(day=world.chargebacks["reported_at"].dt.normalize())
    cb = cb[cb["reported_at"] - cb["day"] <= run_time]  # counted by that evening's run
    prior = cb.merge(world.chargebacks[["user_id", "reported_at"]], on="user_id", suffixes=("", "_other"))
    earlier = prior[(prior["reported_at_other"] < prior["reported_at"])
                    & (prior["reported_at_other"] > prior["reported_at"] - pd.Timedelta(days=31))]
    firsts = cb[~cb.set_index(["user_id", "reported_at"]).index.isin(
        earlier.set_index(["user_id", "reported_at"]).index)]
    firsts = firsts.drop_duplicates(["user_id", "day"])
    tx = world.transactions[["user_id", "event_time"]].assign(day=world.transactions["event_time"].dt.normalize())
    day_of = tx.merge(firsts[["user_id", "day", "reported_at"]], on=["user_id", "day"])
    day_of = day_of[day_of["day"] >= pd.Timestamp(world.config.horizon.start) + pd.Timedelta(days=31)]
    counts = day_of.assign(before=day_of["event_time"] < day_of["reported_at"]).groupby(["user_id", "day"]).agg(
        before=("before", "sum"), total=("before", "size")).reset_index()
    # Readable: at least two purchases before the report, a handful in all.
    counts = counts[(counts["before"] >= 2) & (counts["total"] <= 8)]
    counts = counts.sort_values(["before", "total", "day", "user_id"], ascending=[False, True, True, True])
    if counts.empty:
        raise ValueError("world: no user-day where a same-day chargeback follows two purchases")
    user_id, day = int(counts.iloc[0]["user_id"]), counts.iloc[0]["day"]
    rows = decision_rows(world, day, day + pd.Timedelta(days=1))
    rows = rows[rows["user_id"] == user_id].reset_index(drop=True)
    naive = nightly_features(world, rows, point_in_time=False)
    pit = nightly_features(world, rows, point_in_time=True)
    purchases = rows[["txn_id", "event_time", "amount", "is_fraud", "fraud_scenario"]].assign(
        naive_value=naive[FEATURE].fillna(0).astype(int).to_numpy(),
        point_in_time_value=pit[FEATURE].fillna(0).astype(int).to_numpy(),
        naive_snapshot_available_at=naive["available_at"].to_numpy(),
        point_in_time_snapshot_available_at=pit["available_at"].to_numpy())
    reports = world.chargebacks[(world.chargebacks["user_id"] == user_id)
                                & (world.chargebacks["reported_at"].dt.normalize() == day)]
    batch = world.batch_features
    job = batch[(batch["run_at"].dt.normalize() == day)].iloc[0]
    return UserDay(user_id, day, purchases, reports.reset_index(drop=True), job["run_at"], job["available_at"])


def label_maturity(world: World, extracted_at, *, max_age_days: int = 60) -> pd.DataFrame:
    """Share of eventual fraud labels already reported at ``extracted_at``, by purchase age.

    One row per whole day of age (0 = the last 24 hours before extraction) and
    mechanism, plus an ``all`` mechanism: ``eventual`` labels, ``known`` ones,
    ``known_share``.
    """
    extracted_at = pd.Timestamp(extracted_at)
    tx = world.transactions
    window = tx[(tx["event_time"] < extracted_at)
                & (tx["event_time"] >= extracted_at - pd.Timedelta(days=max_age_days))]
    positive = window[eventual_label(window, world.chargebacks).to_numpy()]
    reported = world.chargebacks.set_index("txn_id")["reported_at"]
    frame = pd.DataFrame({
        "age_days": ((extracted_at - positive["event_time"]) // pd.Timedelta(days=1)).to_numpy(),
        "mechanism": positive["fraud_scenario"].astype(str).replace({"legit": "friendly"}).to_numpy(),
        "known": (reported.reindex(positive["txn_id"]).to_numpy() <= extracted_at),
    })
    both = pd.concat([frame, frame.assign(mechanism="all")])
    out = both.groupby(["mechanism", "age_days"]).agg(eventual=("known", "size"), known=("known", "sum"))
    return out.assign(known_share=out["known"] / out["eventual"]).reset_index()


def missing_label_share(world: World, extracted_at, *, days: int = RECENT_DAYS) -> float:
    """The share of the last ``days`` days' eventual fraud labels not yet reported at extraction."""
    curve = label_maturity(world, extracted_at, max_age_days=days)
    recent = curve[curve["mechanism"] == "all"]
    return float(1 - recent["known"].sum() / recent["eventual"].sum())


def immature_labels(world: World, timeline: Timeline, cutoff: Experiment, *, seed: int = 0) -> dict:
    """What immature labels do, with nothing else changed.

    ``cutoff`` is the correct pipeline's experiment: the training window up to
    ``MATURITY_DAYS`` before extraction, labelled as known at extraction (the
    cutoff: wait for labels). The same purchases are labelled again as known
    the day that window closed (its last weeks' fraud mostly unreported, so
    learned as legitimate), and that model too is deployed at extraction and
    replayed on the same production.
    """
    if cutoff.switches.label_maturity_days != MATURITY_DAYS:
        raise ValueError(f"cutoff: label_maturity_days is {cutoff.switches.label_maturity_days}; "
                         f"expected the lesson's {MATURITY_DAYS}")
    table = cutoff.table
    closed = timeline.extracted_at - pd.Timedelta(days=MATURITY_DAYS)
    early = known_fraud_as_of(table.frame, world.chargebacks, closed).to_numpy()
    relabelled = ModelTable(table.frame.assign(label=early), table.features,
                            table.switches.but(label_maturity_days=None))
    return {IMMATURE: evaluate(IMMATURE, relabelled, cutoff.production_table, seed=seed),
            MATURE: replace(cutoff, name=MATURE)}


def label_effects(experiments: dict) -> pd.DataFrame:
    """What the labels taught each model: one row per experiment of :func:`immature_labels`.

    ``known_frauds`` and ``training_fraud_rate``: positives in its training
    table; ``takeover_share``: the share of them that are account takeovers
    (reported within hours, so the first to be known); offline and production
    ROC AUC, PR AUC and recall@1%; ``predicted_rate`` vs ``observed_rate``: the
    mean production score against the eventual fraud rate.
    """
    rows = []
    for name, e in experiments.items():
        train = e.table.frame
        known = train[train["label"]]
        off, on = frame_metrics(e.offline), frame_metrics(e.production)
        rows.append({"experiment": name, "known_frauds": len(known), "training_fraud_rate": train["label"].mean(),
                     "takeover_share": float((known["fraud_scenario"] == "account_takeover").mean()),
                     **{f"offline_{k}": off[k] for k in ("roc_auc", "pr_auc", "recall_at_alert")},
                     **{f"production_{k}": on[k] for k in ("roc_auc", "pr_auc", "recall_at_alert")},
                     "predicted_rate": weighted_mean(e.production, "score"),
                     "observed_rate": weighted_mean(e.production, "label")})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Results:
    """Everything lesson 1 measures on one world (tidy tables; see each function)."""

    user_day: UserDay
    offline_vs_production: pd.DataFrame  # experiment x setting -> metrics (VARIANTS)
    maturity: pd.DataFrame  # label_maturity at the extraction time
    missing_label_share: float  # of the last RECENT_DAYS days' eventual fraud labels, at extraction
    immature_labels: pd.DataFrame  # label_effects of immature_labels()


@cached_results
def results(world: World) -> Results:
    """Run lesson 1 on ``world``: the default timeline, production its first month (cached per world)."""
    timeline = Timeline.for_world(world).first_days_of_production(PRODUCTION_DAYS)
    experiments = run(world, VARIANTS, timeline)
    correct = experiments[list(VARIANTS)[-1]]
    return Results(one_users_day(world), offline_vs_production(experiments),
                   label_maturity(world, timeline.extracted_at),
                   missing_label_share(world, timeline.extracted_at),
                   label_effects(immature_labels(world, timeline, correct)))


def signature(r: Results) -> pd.DataFrame:
    """Lesson 1's measured signature (DESIGN.md): the leak at the top of the ranking, and its fix."""
    t = r.offline_vs_production.set_index(["experiment", "setting"])
    naive, pit = VARIANTS
    off, prod = (lambda e, m: t.loc[(e, "offline"), m]), (lambda e, m: t.loc[(e, "production"), m])
    mature = r.maturity[(r.maturity["mechanism"] == "all") & (r.maturity["age_days"] >= MATURITY_DAYS)]
    return checkpoint_table([
        ("naive: offline minus production recall@1%",
         off(naive, "recall_at_alert") - prod(naive, "recall_at_alert"), ">=", 0.15),
        ("naive: offline / production PR AUC", off(naive, "pr_auc") / prod(naive, "pr_auc"), ">=", 1.5),
        ("point in time: |offline - production| ROC AUC", abs(off(pit, "roc_auc") - prod(pit, "roc_auc")), "<=", 0.03),
        ("production recall@1%: point in time minus naive",
         prod(pit, "recall_at_alert") - prod(naive, "recall_at_alert"), ">=", 0.0),
        ("production PR AUC: point in time minus naive", prod(pit, "pr_auc") - prod(naive, "pr_auc"), ">=", 0.0),
        (f"eventual fraud labels of the last {RECENT_DAYS} days missing at extraction", r.missing_label_share,
         ">=", 0.30),
        (f"eventual fraud labels missing after a {MATURITY_DAYS}-day cutoff",
         1 - mature["known"].sum() / mature["eventual"].sum(), "<=", 0.15),
    ])
