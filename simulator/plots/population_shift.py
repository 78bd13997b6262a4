"""Lesson 3's figures: cohorts that look alike, monitors that stay silent, recall that falls.

Each function takes fields of :func:`simulator.lessons.population_shift.results`
and returns a :class:`~matplotlib.figure.Figure`. Time semantics: purchases
belong to the production window by their ``event_time``; weeks and months are
counted from deployment (the extraction time); a purchase's label is its
eventual label, known long after the week it is scored in.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..lessons import population_shift as lesson
from . import style

GROUPS = ("mature", "new")
GROUP_LABELS = {"mature": "mature users (before the horizon)", "new": "new cohorts (arrived during it)"}
HIGHLIGHTED = {"amount": "amount", "txn_count_last_24h": "velocity (txn_count_last_24h)"}
CALIBRATION_ALERT = lesson.CALIBRATION_ALERT
VELOCITY_QUANTILE = 0.995  # velocity values above this quantile are pooled into one last bar


# --- the three panels: alike, alike, not alike ---------------------------------------------------------

def group_histogram(marginals: pd.DataFrame, column: str, edges: np.ndarray) -> pd.DataFrame:
    """Share of each group's purchases per bin ``[lo, hi)`` of ``column`` (values outside the edges clipped in).

    Columns: ``group``, ``lo``, ``hi``, ``share`` (sums to 1 per group). Rows
    with a missing value (a failed request) are left out.
    """
    frame = marginals[["group", column]].dropna()
    code = np.clip(np.searchsorted(edges, frame[column].to_numpy(float), side="right") - 1, 0, len(edges) - 2)
    counts = pd.crosstab(frame["group"].to_numpy(), code).reindex(columns=range(len(edges) - 1), fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0)
    out = shares.stack().rename("share").rename_axis(["group", "bin"]).reset_index()
    return out.assign(lo=edges[out["bin"]], hi=edges[out["bin"] + 1]).drop(columns="bin")


def plot_cohorts_alike(marginals: pd.DataFrame, ks: pd.DataFrame, by_cohort: pd.DataFrame, *,
                       figsize: tuple[float, float] = (14, 4.4)) -> Figure:
    """The article's three panels: amount and velocity by group (alike), fraud rate by cohort (not alike)."""
    ks = ks.set_index("feature")["ks"]
    with style.figure_style():
        fig, (ax_a, ax_v, ax_f) = style.new_figure(figsize=figsize, ncols=3)
        _amounts(ax_a, marginals, ks["amount"])
        _velocity(ax_v, marginals, ks["txn_count_last_24h"])
        _fraud_rates(ax_f, by_cohort)
        fig.legend(handles=ax_a.get_legend_handles_labels()[0], loc="outside lower center", ncols=2)
        ratio = by_cohort.set_index("cohort").loc["all new", "ratio_to_mature"]
        style.lesson_title(fig, f"Same amounts, same velocity (KS ≤ {ks.max():.3f}), different risk: new users' "
                                f"fraud rate is {ratio:.1f}× the mature users'")
    return fig


def _amounts(ax: Axes, marginals: pd.DataFrame, ks: float) -> None:
    """Step histograms of the amount on log-spaced bins, one per group."""
    amount = marginals["amount"]
    hist = group_histogram(marginals, "amount", np.geomspace(amount.min(), np.nextafter(amount.max(), np.inf), 51))
    for group in GROUPS:
        rows = hist[hist["group"] == group]
        ax.stairs(rows["share"], [*rows["lo"], rows["hi"].iloc[-1]], color=style.GROUP_COLORS[group], lw=2,
                  label=GROUP_LABELS[group])
    ax.set_xscale("log")
    style.percent_axis(ax, decimals=1)
    ax.set_xlabel("amount (currency units, log scale)")
    ax.set_ylabel("share of the group's purchases")
    ax.set_title("Amount per purchase")
    style.note(ax, f"KS = {ks:.3f}", xy=(0.97, 0.97), ha="right")


def _velocity(ax: Axes, marginals: pd.DataFrame, ks: float) -> None:
    """Paired bars of the velocity count, one colour per group; the tail pooled into the last bar."""
    top = int(np.nanquantile(marginals["txn_count_last_24h"], VELOCITY_QUANTILE))
    hist = group_histogram(marginals, "txn_count_last_24h", np.arange(top + 2, dtype=float))
    for dx, group in zip((-0.2, 0.2), GROUPS):
        rows = hist[hist["group"] == group]
        ax.bar(rows["lo"] + dx, rows["share"], width=0.4, color=style.GROUP_COLORS[group])
    ax.set_xticks(range(top + 1), [str(v) if v % 2 == 0 else "" for v in range(top)] + [f"≥{top}"])
    style.percent_axis(ax)
    ax.set_xlabel("purchases by the user in the 24 h before (as served)")
    ax.set_ylabel("share of the group's purchases")
    ax.set_title("Velocity")
    style.note(ax, f"KS = {ks:.3f}", xy=(0.97, 0.97), ha="right")


def _fraud_rates(ax: Axes, by_cohort: pd.DataFrame) -> None:
    """Bars of the fraud rate: mature, all new, then each new cohort; the ratio to mature written on each."""
    rows = by_cohort[by_cohort["cohort"] != "mature"].reset_index(drop=True)
    colors = style.cohort_colors([c for c in rows["cohort"] if not c.startswith("all ")])
    colors.update({f"all {g}": style.GROUP_COLORS[g] for g in GROUPS})
    names = [c.replace("all ", "all\n") for c in rows["cohort"]]
    bars = ax.bar(names, rows["fraud_rate"], color=[colors[c] for c in rows["cohort"]])
    ax.bar_label(bars, [f"{r:.1f}×" for r in rows["ratio_to_mature"]], fontsize=9, padding=2)
    ax.set_ylim(0, rows["fraud_rate"].max() * 1.15)
    style.percent_axis(ax, decimals=2)
    ax.set_xlabel("cohort of the buyer (× = fraud rate / mature users')")
    ax.set_ylabel("fraud rate (ground truth)")
    ax.set_title("Fraud rate")


# --- monitoring over production weeks -------------------------------------------------------------------

def plot_monitoring(results: lesson.Results, *, figsize: tuple[float, float] = (13, 7.5)) -> Figure:
    """Per production week: feature KS (silent) and recall (falling) on the left; what a segment view sees right."""
    with style.figure_style():
        fig, (ax_ks, ax_mix, ax_rec, ax_cal) = style.new_figure(figsize=figsize, ncols=2, nrows=2, sharex=True)
        _feature_ks(ax_ks, results.feature_ks_weekly)
        _new_share(ax_mix, results.weekly, results.segment_monitor)
        _weekly_recall(ax_rec, results.weekly, results.label_free)
        _calibration(ax_cal, results.segment_monitor)
        for ax in (ax_rec, ax_cal):
            ax.set_xlabel("production week (7 days of event_time from deployment)")
        style.lesson_title(fig, _monitoring_headline(results))
    return fig


def _monitoring_headline(results: lesson.Results) -> str:
    ks = results.feature_ks_weekly
    worst = ks.loc[ks["feature"].isin(list(HIGHLIGHTED)), "ks"].max()
    naive = results.weekly[results.weekly["strategy"] == results.weekly["strategy"].iloc[0]]
    first, last = naive["recall_at_alert"].iloc[[0, -1]]
    return (f"Amount and velocity do not drift (KS ≤ {worst:.3f}), yet the naive model's weekly recall@1% falls "
            f"from {first:.0%} to {last:.0%}; a per-cohort view shows why")


def _feature_ks(ax: Axes, ks: pd.DataFrame) -> None:
    """KS per week of every model feature (grey), of the outage flags (dotted), of the article's two (bold)."""
    wide = ks.pivot(index="period", columns="feature", values="ks")
    flags = [f for f in wide.columns if f.endswith("_unavailable")]
    others = wide.drop(columns=[*HIGHLIGHTED, *flags])
    ax.plot(others.index, others.to_numpy(), color="#bbbbbb", lw=0.8)
    ax.plot(wide.index, wide[flags].to_numpy(), color=style.STATUS_COLORS["unavailable"], lw=0.8, ls=":")
    ax.plot([], [], color="#bbbbbb", lw=0.8, label=f"the other {others.shape[1]} model features")
    ax.plot([], [], color=style.STATUS_COLORS["unavailable"], lw=0.8, ls=":",
            label=f"the {len(flags)} 'unavailable' flags (outages)")
    for feature, color in zip(HIGHLIGHTED, ("black", "#777777")):
        ax.plot(wide.index, wide[feature], "o-", ms=3, lw=1.8, color=color, label=HIGHLIGHTED[feature])
    style.alert_line(ax, lesson.KS_ALERT, f"alert at KS = {lesson.KS_ALERT}")
    ax.set_ylim(0, max(lesson.KS_ALERT * 2, wide.to_numpy().max() * 1.05))
    ax.set_ylabel("KS statistic vs\nthe training window")
    ax.set_title("The drift dashboard: values do not move", loc="left")
    ax.legend(loc="upper left", fontsize=8, ncols=2)


def _new_share(ax: Axes, weekly: pd.DataFrame, monitor: pd.DataFrame) -> None:
    """The new cohorts' share of each week's purchases against their share in the training window."""
    share = weekly.drop_duplicates("week").set_index("week")["new_cohort_share"]
    base = (share - monitor.set_index("week")["new_share_shift"]).mean()
    ax.bar(share.index, share, color=style.GROUP_COLORS["new"], alpha=0.75, label="production week")
    ax.axhline(base, color="black", ls="--", lw=1.2, label=f"training window ({base:.0%})")
    ax.set_ylim(0, 1)
    style.percent_axis(ax)
    ax.set_ylabel("new cohorts' share\nof purchases")
    ax.set_title("Who the rows stand for: the mix moves", loc="left")
    ax.legend(loc="upper left", fontsize=8.5)


def _weekly_recall(ax: Axes, weekly: pd.DataFrame, label_free: pd.DataFrame) -> None:
    """Weekly recall@1% per strategy, and the naive model's label-free estimate (dashed)."""
    colors = style.variant_colors(list(dict.fromkeys(weekly["strategy"])))
    for name, rows in weekly.groupby("strategy", sort=False):
        ax.plot(rows["week"], rows["recall_at_alert"], "o-", ms=4, lw=2, color=colors[name], label=name)
    naive = next(iter(colors))
    ax.plot(label_free["week"], label_free["estimated_recall"], "--", lw=1.5, color=colors[naive],
            label="the naive model, estimated without labels")
    ax.set_ylim(0, 1.3)  # room for the legend above the curves
    ax.set_yticks(np.linspace(0, 1, 6))
    style.percent_axis(ax)
    ax.set_ylabel("recall@1% (weekly\n1% review budget)")
    ax.set_title("The model: the naive one loses fraud week by week", loc="left")
    ax.legend(loc="upper left", fontsize=8.5, ncols=2)


def _calibration(ax: Axes, monitor: pd.DataFrame) -> None:
    """Observed over predicted fraud per group and week: the mature group calibrated, the new one not."""
    for group in GROUPS:
        ax.plot(monitor["week"], monitor[f"observed_over_predicted_{group}"], "o-", ms=4, lw=2,
                color=style.GROUP_COLORS[group], label=GROUP_LABELS[group])
    ax.axhline(1, color="#777777", lw=1, label="calibrated (observed = predicted)")
    style.alert_line(ax, CALIBRATION_ALERT, f"alert at {CALIBRATION_ALERT}×")
    ax.set_ylim(0, monitor.filter(like="observed_over_predicted_").to_numpy().max() * 1.4)
    ax.set_ylabel("observed / predicted\nfraud (eventual labels)")
    ax.set_title(f"A per-cohort monitor: fires in {int(monitor['fires'].sum())} of {len(monitor)} weeks", loc="left")
    ax.legend(loc="upper left", fontsize=8.5, ncols=2)


# --- monthly recall per strategy ----------------------------------------------------------------------

def plot_monthly(monthly: pd.DataFrame, *, figsize: tuple[float, float] = (10, 4.6)) -> Figure:
    """Recall@1% per production month, one bar per strategy, each labelled."""
    names = list(dict.fromkeys(monthly["strategy"]))
    colors = style.variant_colors(names)
    width = 0.8 / len(names)
    with style.figure_style():
        fig, (ax,) = style.new_figure(figsize=figsize)
        for i, (name, rows) in enumerate(monthly.groupby("strategy", sort=False)):
            bars = ax.bar(rows["month"] + (i - (len(names) - 1) / 2) * width, rows["recall_at_alert"], width=width,
                          color=colors[name], label=name)
            ax.bar_label(bars, [f"{r:.0%}" for r in rows["recall_at_alert"]], fontsize=9, padding=2)
        months = sorted(monthly["month"].unique())
        days = lesson.MONTH.days
        ax.set_xticks(months, [f"month {m + 1}\n(days {days * m}–{days * (m + 1) - 1})" for m in months])
        ax.set_ylim(0, 1)
        style.percent_axis(ax)
        ax.set_xlabel(f"production month ({days} days of event_time from deployment)")
        ax.set_ylabel("recall@1% (monthly 1% review budget)")
        ax.legend(loc="upper right")
        style.lesson_title(fig, _monthly_headline(monthly))
    return fig


def _monthly_headline(monthly: pd.DataFrame) -> str:
    recall = monthly.pivot(index="strategy", columns="month", values="recall_at_alert")
    naive, best = monthly["strategy"].iloc[0], monthly["strategy"].iloc[-1]
    return (f"Trained once without context, recall@1% falls from {recall.loc[naive].iloc[0]:.0%} to "
            f"{recall.loc[naive].iloc[-1]:.0%}; '{best}' holds {recall.loc[best].iloc[-1]:.0%}")
