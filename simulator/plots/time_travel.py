"""Lesson 1's figures: a count that travels back in time, what it does to the metrics, labels that arrive late.

Each function takes a field of :func:`simulator.lessons.time_travel.results`
and returns a :class:`~matplotlib.figure.Figure`. Time semantics, as in the
lesson: a purchase is scored at its ``event_time``; a chargeback exists from
its ``reported_at``; the nightly job counts what was reported by ``run_at`` and
publishes at ``available_at``. The naive join ignores the second of each pair.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ..lessons.time_travel import FEATURE, RECENT_DAYS, UserDay
from ..pipelines import CORRECT
from . import style

# model-table metric -> what it measures, in words (left to right: the top of the ranking first)
METRICS = {"recall_at_alert": "recall@1% (share of fraud in the top 1%)",
           "pr_auc": "PR AUC (average precision)", "roc_auc": "ROC AUC (whole ranking)"}
SETTINGS = {"offline": "offline: cross-validated by time block", "production": "production: replay as served"}
MECHANISMS = ("account_takeover", "new_account", "friendly")
AGE_EDGES_DAYS = (0, 1, 3, 7, 14, 30, 60)  # purchase-age bins of the maturity curve


# --- one user's day ----------------------------------------------------------------------------------

def plot_user_day(day: UserDay, *, figsize: tuple[float, float] = (11, 6.2)) -> Figure:
    """The purchases of ``day`` (amount at event_time), the chargeback reports and the nightly job above;
    below, the count each purchase gets from the naive (same-date) and the point-in-time join."""
    with style.figure_style():
        fig, (ax_p, ax_v) = style.new_figure(figsize=figsize, nrows=2, height_ratios=[1.1, 1], sharex=True)
        _purchases(ax_p, day.purchases)
        _feature_values(ax_v, day)
        for ax in (ax_p, ax_v):
            _clock_events(ax, day, legend=ax is ax_p)
        ax_p.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax_v.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        _day_axis(ax_v, day)
        first = day.purchases["event_time"].min()
        style.lesson_title(fig, f"Joined by date, the {day.run_at:%H:%M} count reaches back to a purchase at "
                                f"{first:%H:%M}, hours before any chargeback was reported")
    return fig


def _purchases(ax: Axes, purchases: pd.DataFrame) -> None:
    """Each purchase as a stem at its event_time, as tall as its amount; fraud coloured by mechanism."""
    kind = purchases["fraud_scenario"].astype(str).where(purchases["is_fraud"], "legit")
    for name, rows in purchases.groupby(kind, sort=False):
        color = style.MECHANISM_COLORS.get(name, style.TRANSACTIONS_COLOR)
        label = "legitimate purchase" if name == "legit" else f"fraud: {style.MECHANISM_LABELS[name]}"
        ax.vlines(rows["event_time"], 0, rows["amount"], color=color, lw=1.5)
        ax.plot(rows["event_time"], rows["amount"], "o", color=color, ms=7, label=label)
    ax.set_ylim(0, purchases["amount"].max() * 1.35)
    ax.set_ylabel("amount (currency units)")
    n_fraud = int(purchases["is_fraud"].sum())
    ax.set_title(f"The day's purchases ({len(purchases)}, {n_fraud} fraudulent), placed at event_time",
                 loc="left")


def _feature_values(ax: Axes, day: UserDay) -> None:
    """The count in the naive training table, the count production could read, and each purchase's two values."""
    p = day.purchases
    naive, pit = style.variant_colors(["naive", "point in time"]).values()
    start = day.day
    ax.hlines(p["naive_value"].iloc[0], start, start + pd.Timedelta(days=1), color=naive, ls="--", lw=1.5,
              label="naive: every row of the date gets\nthat date's snapshot")
    steps = pd.concat([p[["point_in_time_snapshot_available_at", "point_in_time_value"]].set_axis(["t", "v"], axis=1),
                       pd.DataFrame({"t": [day.available_at], "v": [p["naive_value"].iloc[0]]})]).drop_duplicates("t")
    end = day.available_at + pd.Timedelta(hours=2)
    ax.step([*steps["t"], end], [*steps["v"], steps["v"].iloc[-1]], where="post", color=pit, lw=2,
            label="point in time: the latest snapshot\npublished (available_at ≤ t)")
    ax.plot(p["event_time"], p["naive_value"], "o", color=naive, ms=8, label="value in the naive training row")
    ax.plot(p["event_time"], p["point_in_time_value"], "o", color=pit, ms=8,
            label="value production could read")
    _arrow_back(ax, p, day.run_at, naive)
    top = max(p["naive_value"].max(), p["point_in_time_value"].max())
    ax.set_ylim(-0.6, top * 1.3 + 1)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"{FEATURE}\n(chargebacks counted)", fontsize=9)
    ax.set_title("What each purchase is told about its user's recent chargebacks", loc="left")


def _arrow_back(ax: Axes, purchases: pd.DataFrame, run_at: pd.Timestamp, color) -> None:
    """An arrow from the nightly run back to the day's first purchase: the leak, drawn."""
    first = purchases.loc[purchases["event_time"].idxmin()]
    y = first["naive_value"]
    ax.annotate("", xy=(first["event_time"], y), xytext=(run_at, y), xycoords="data",
                arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.2, "connectionstyle": "arc3,rad=0.25",
                            "shrinkA": 4, "shrinkB": 6})
    ax.annotate(f"counted at {run_at:%H:%M}, joined to purchases made earlier that day",
                xy=(first["event_time"] + (run_at - first["event_time"]) / 2, y), xytext=(0, -26),
                textcoords="offset points", ha="center", va="top", fontsize=9, color=color,
                bbox={"fc": "white", "ec": "none", "alpha": 0.85})


def _clock_events(ax: Axes, day: UserDay, *, legend: bool) -> None:
    """Vertical lines at the reports' reported_at and the job's run_at and available_at (the job shaded)."""
    for t, n in day.reports["reported_at"].value_counts().sort_index().items():
        ax.axvline(t, color=style.OUTAGE_COLOR, lw=2,
                   label=f"{n} chargeback{'s' * (n > 1)} reported\nat {t:%H:%M} (reported_at)" if legend else None)
    style.shade_windows(ax, [(day.run_at, day.available_at)], color="#dddddd",
                        label=f"nightly job: run_at {day.run_at:%H:%M} → available_at {day.available_at:%H:%M}"
                        if legend else None)
    ax.axvline(day.run_at, color="black", lw=1, ls="--")
    ax.axvline(day.available_at, color="black", lw=1)


def _day_axis(ax: Axes, day: UserDay) -> None:
    """Clock time over the day and into the next night, past the snapshot's publication."""
    ax.set_xlim(day.day, day.available_at + pd.Timedelta(hours=1))
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=range(0, 24, 3)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    ax.set_xlabel(f"platform clock, {day.day:%a %d %b %Y} and the night after (user {day.user_id})")


# --- offline vs production -------------------------------------------------------------------------

def plot_offline_vs_production(table: pd.DataFrame, *, headline: str | None = None,
                               figsize: tuple[float, float] = (12, 3.6)) -> Figure:
    """Per experiment, each metric offline (open) and in production (filled), with an arrow between.

    All panels share the 0..1 scale, so a small move is drawn small: ROC AUC
    barely shifts while recall at the top of the ranking falls.
    """
    names = list(dict.fromkeys(table["experiment"]))
    colors = style.variant_colors(names)
    with style.figure_style():
        fig, axes = style.new_figure(figsize=figsize, ncols=len(METRICS), sharey=True)
        for ax, (metric, label) in zip(axes, METRICS.items()):
            _dumbbells(ax, table, metric, colors)
            ax.set_title(label)
            ax.set_xlim(0, 1.05)
            ax.set_xlabel("score (0 to 1; higher is better)")
        axes[0].set_yticks(range(len(names)), [n.replace(": ", ":\n") for n in names])
        axes[0].set_ylim(len(names) - 0.5, -0.6)
        axes[0].set_ylabel("training table")
        fig.legend(handles=_setting_handles(), loc="outside lower center", ncols=2)
        style.lesson_title(fig, headline or _offline_headline(table, names[0]))
    return fig


def _dumbbells(ax: Axes, table: pd.DataFrame, metric: str, colors: dict) -> None:
    """One row per experiment: an open marker offline, a filled one in production, an arrow between."""
    wide = table.pivot(index="experiment", columns="setting", values=metric).reindex(list(colors))
    for y, (name, row) in enumerate(wide.iterrows()):
        c = colors[name]
        ax.annotate("", xy=(row["production"], y), xytext=(row["offline"], y),
                    arrowprops={"arrowstyle": "-|>", "color": c, "lw": 1.5, "shrinkA": 5, "shrinkB": 5})
        ax.plot(row["offline"], y, "o", mfc="white", mec=c, mew=2, ms=9)
        ax.plot(row["production"], y, "o", color=c, ms=9)
        for setting, dy in (("offline", -0.22), ("production", 0.3)):
            ax.annotate(f"{row[setting]:.2f}", xy=(row[setting], y + dy), ha="center", va="center", fontsize=8.5,
                        color=c)


def _setting_handles() -> list[Line2D]:
    return [Line2D([], [], ls="", marker="o", mfc="white", mec="#555555", mew=2, ms=8, label=SETTINGS["offline"]),
            Line2D([], [], ls="", marker="o", color="#555555", ms=8, label=SETTINGS["production"])]


def _offline_headline(table: pd.DataFrame, naive: str) -> str:
    row = table[table["experiment"] == naive].set_index("setting")
    drop = row.loc["offline", "recall_at_alert"] - row.loc["production", "recall_at_alert"]
    auc = row.loc["production", "roc_auc"] - row.loc["offline", "roc_auc"]
    return (f"A leaked feature flatters the top of the ranking: in production the naive model's recall@1% "
            f"falls by {drop:.2f}, its ROC AUC moves by {auc:+.2f}")


# --- label maturity ----------------------------------------------------------------------------------

def maturity_by_age(maturity: pd.DataFrame, edges: tuple[int, ...] = AGE_EDGES_DAYS) -> pd.DataFrame:
    """:func:`~simulator.lessons.time_travel.label_maturity` pooled into age bins ``[lo, hi)`` days.

    Daily counts of fraud are small; wider bins for older purchases keep each
    share readable. Columns: ``mechanism``, ``lo``, ``hi``, ``eventual``,
    ``known``, ``known_share`` (NaN for a bin without fraud).
    """
    binned = maturity.assign(lo=np.asarray(edges)[np.searchsorted(edges, maturity["age_days"], side="right") - 1])
    binned = binned[binned["age_days"] < edges[-1]]
    out = binned.groupby(["mechanism", "lo"])[["eventual", "known"]].sum()
    full = pd.MultiIndex.from_product([out.index.levels[0], edges[:-1]], names=["mechanism", "lo"])
    out = out.reindex(full, fill_value=0).reset_index()
    out.insert(2, "hi", out["lo"].map(dict(zip(edges[:-1], edges[1:]))))
    return out.assign(known_share=out["known"] / out["eventual"].replace(0, np.nan))


def plot_label_maturity(maturity: pd.DataFrame, missing_share: float, *,
                        figsize: tuple[float, float] = (10, 4.6)) -> Figure:
    """Share of eventual fraud labels already reported at extraction, by purchase age, all and per mechanism."""
    binned = maturity_by_age(maturity)
    edges = [*binned["lo"].unique(), binned["hi"].max()]
    with style.figure_style():
        fig, (ax,) = style.new_figure(figsize=figsize)
        style.shade_windows(ax, [(0, RECENT_DAYS)], label=f"the last {RECENT_DAYS} days before extraction")
        curves = {**{m: (style.MECHANISM_COLORS[m], 1.3, style.MECHANISM_LABELS[m]) for m in MECHANISMS},
                  "all": ("black", 2.8, "all eventual fraud labels")}
        for name, (color, lw, label) in curves.items():
            if (binned["mechanism"] == name).any():
                ax.stairs(binned.loc[binned["mechanism"] == name, "known_share"], edges, baseline=None,
                          color=color, lw=lw, label=label)
        _maturity_cutoff(ax)
        ax.set_xscale("symlog", linthresh=RECENT_DAYS, linscale=1.5)
        ax.set_xticks(edges, [str(e) for e in edges])
        ax.set_xlim(0, edges[-1])
        ax.set_ylim(0, 1.05)
        style.percent_axis(ax)
        ax.set_xlabel("purchase age at extraction (days, extracted_at − event_time; binned)")
        ax.set_ylabel("share of eventual fraud labels\nalready reported")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        style.note(ax, f"{missing_share:.0%} of the last {RECENT_DAYS} days' eventual fraud\nlabels are not "
                       "yet reported: those purchases\nenter the training table labelled legitimate",
                   xy=(0.02, 0.04), va="bottom")
        style.lesson_title(fig, f"Labels arrive late: at extraction, {missing_share:.0%} of the last week's fraud "
                                "is not yet reported and looks legitimate")
    return fig


def _maturity_cutoff(ax: Axes) -> None:
    """A dotted line at the correct pipeline's label-maturity cutoff (when it has one)."""
    days = CORRECT.label_maturity_days
    if days is not None:
        ax.axvline(days, color="black", ls=":", lw=1.2)
        ax.annotate(f"maturity cutoff: the fix\ntrains on purchases\nolder than {days:g} days", xy=(days, 0.3),
                    xytext=(-4, 0), textcoords="offset points", fontsize=9, ha="right", va="center",
                    bbox={"fc": "white", "ec": "none", "alpha": 0.8})
