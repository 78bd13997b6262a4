"""Lesson 2's figures: a default value that means "new user", and what happens when the service goes quiet.

Each function takes fields of :func:`simulator.lessons.default_signalling.results`
and returns a :class:`~matplotlib.figure.Figure`. Time semantics: the training
table's ``avg_txn_amount_last_7_days`` is absent when a user had no purchase in
the week before ``event_time``; in production it is also absent when the online
service timed out at ``event_time`` (status ``unavailable`` in the serving log).
Hours are clock hours of the purchase's ``event_time``.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

from ..lessons.default_signalling import AVAILABILITY_ALERT, FEATURE, availability_alerts
from . import style

ZERO_COLOR = "#9e9e9e"  # the default bucket: absence dressed up as a value
ALERT_THRESHOLD = AVAILABILITY_ALERT
RATIO_GUIDES = {0.5: "failure: ≤ 50%", 0.75: "fix: ≥ 75%"}  # the design's checkpoints on the recall ratio


# --- the default bucket ------------------------------------------------------------------------------

def plot_default_bucket(by_value: pd.DataFrame, who: pd.DataFrame, *,
                        figsize: tuple[float, float] = (13, 4.8)) -> Figure:
    """Fraud rate by bucket of the zero-filled feature (zero first); who the zero bucket holds."""
    with style.figure_style():
        fig, (ax, ax_who) = style.new_figure(figsize=figsize, ncols=2, width_ratios=[2.2, 1])
        _rate_by_bucket(ax, by_value)
        _who_is_zero(ax_who, who)
        zero = by_value.iloc[0]
        style.lesson_title(fig, f"Filled with 0, a missing average becomes a signal: the zero bucket's fraud rate "
                                f"is {zero['relative_rate']:.2f}× the overall rate")
    return fig


def _rate_by_bucket(ax: Axes, by_value: pd.DataFrame) -> None:
    """Bars of the fraud rate per bucket, the zero bucket grey and hatched, the overall rate as a line."""
    x = np.arange(len(by_value))
    colors = [ZERO_COLOR] + [style.TRANSACTIONS_COLOR] * (len(by_value) - 1)
    bars = ax.bar(x, by_value["fraud_rate"], color=colors, width=0.8)
    bars[0].set_hatch("//")
    overall = by_value["frauds"].sum() / by_value["rows"].sum()
    ax.axhline(overall, color="black", ls="--", lw=1.2, label=f"overall fraud rate ({overall:.2%})")
    labels = [f"{b}\n{s:.0%}" for b, s in zip(by_value["bucket"].astype(str), by_value["share"])]
    ax.set_xticks(x, labels, fontsize=8.5)
    style.percent_axis(ax, decimals=2)
    ax.set_ylabel("fraud rate (labels known at extraction)")
    ax.set_xlabel(f"{FEATURE} (currency units): the default 0, then deciles\n(under each bucket: its share of "
                  "training purchases)")
    ax.set_title("Training window: fraud rate by the feature's value")
    ax.legend(loc="upper left")
    zero = by_value.iloc[0]
    ax.annotate(f"the default: {int(zero['frauds'])} fraud in {int(zero['rows']):,} purchases\n"
                f"({zero['relative_rate']:.2f}× the overall rate)", xy=(0, zero["fraud_rate"]), xytext=(0.02, 0.8),
                textcoords="axes fraction", fontsize=9, bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"},
                arrowprops={"arrowstyle": "-|>", "color": "#555555"})


def _who_is_zero(ax: Axes, who: pd.DataFrame) -> None:
    """Horizontal bars: training purchases in the zero bucket by kind of user and cohort, frauds in text."""
    who = who.sort_values("rows").reset_index(drop=True)
    colors = style.cohort_colors(who["cohort"].astype(str).unique())
    y = np.arange(len(who))
    ax.barh(y, who["rows"], color=[colors[c] for c in who["cohort"].astype(str)])
    ax.set_yticks(y, [f"{k.split(' (')[0]}, {c}" for k, c in zip(who["kind"], who["cohort"])])
    for i, row in who.iterrows():
        ax.annotate(f" {int(row['rows']):,} purchase{'s' * (row['rows'] != 1)}, {int(row['frauds'])} fraud",
                    xy=(row["rows"], i), va="center", fontsize=8.5)
    ax.set_xlim(0, who["rows"].max() * 1.75)
    ax.set_xlabel("training purchases with the value 0")
    ax.set_ylabel("kind of user, cohort")
    ax.set_title("Who sits at 0: dormant users\n(no purchase in 7 days) and newcomers (< 7 days)", fontsize=10)


# --- recall by hour ----------------------------------------------------------------------------------

def recall_in_peak(by_hour: pd.DataFrame, peak_windows: tuple) -> pd.DataFrame:
    """Recall@1% pooled over the clock hours that overlap a peak window, and over the others, per strategy.

    Exact pooling: with one threshold for all hours, the frauds caught in an
    hour are its recall times its frauds. Columns: ``strategy``, ``in_peak``,
    ``frauds``, ``recall_at_alert``.
    """
    frame = by_hour.assign(in_peak=_in_windows(by_hour["hour"], peak_windows),
                           caught=by_hour["recall_at_alert"] * by_hour["frauds"])
    out = frame.groupby(["strategy", "in_peak"], sort=False)[["frauds", "caught"]].sum().reset_index()
    return out.assign(recall_at_alert=out["caught"] / out["frauds"]).drop(columns="caught")


def plot_recall_by_hour(by_hour: pd.DataFrame, peak_windows: tuple, *,
                        figsize: tuple[float, float] = (11, 6)) -> Figure:
    """Production recall@1% by hour of day per strategy above, the share of unavailable requests below."""
    strategies = list(dict.fromkeys(by_hour["strategy"]))
    colors = style.variant_colors(strategies)
    with style.figure_style():
        fig, (ax, ax_u) = style.new_figure(figsize=figsize, nrows=2, height_ratios=[2, 1], sharex=True)
        for ax_ in (ax, ax_u):
            style.shade_windows(ax_, peak_windows, label="peak-load windows" if ax_ is ax else None)
        for name, rows in by_hour.groupby("strategy", sort=False):
            ax.plot(rows["hour"] + 0.5, rows["recall_at_alert"], "o-", color=colors[name], lw=2, label=name)
        _gap(ax, by_hour, strategies, colors[strategies[-1]])
        ax.set_ylim(0, 1)
        style.percent_axis(ax)
        ax.set_ylabel("recall@1% in production\n(one threshold for all hours)")
        ax.legend(loc="lower left")
        hourly = by_hour.drop_duplicates("hour")
        ax_u.bar(hourly["hour"] + 0.5, hourly["unavailable_share"], width=0.85,
                 color=style.STATUS_COLORS["unavailable"])
        style.percent_axis(ax_u)
        ax_u.set_ylabel("requests served\n'unavailable'")
        style.hour_of_day_axis(ax_u, "hour of day of event_time (the decision time)")
        style.lesson_title(fig, _hour_headline(recall_in_peak(by_hour, peak_windows), strategies))
    return fig


def _hour_headline(pooled: pd.DataFrame, strategies: list[str]) -> str:
    recall = pooled.set_index(["strategy", "in_peak"])["recall_at_alert"]
    naive, fix = strategies[0], strategies[-1]
    return (f"Recall sinks where the feature service times out: {naive} finds {recall[naive, True]:.0%} of fraud in "
            f"peak windows ({recall[naive, False]:.0%} outside),\nthe fix ({fix}) {recall[fix, True]:.0%}")


def _gap(ax: Axes, by_hour: pd.DataFrame, strategies: list[str], color) -> None:
    """Shade where the last strategy's recall beats the first's, hour by hour."""
    wide = by_hour.pivot(index="hour", columns="strategy", values="recall_at_alert")
    first, last = wide[strategies[0]], wide[strategies[-1]]
    ax.fill_between(wide.index + 0.5, first, last, where=last > first, interpolate=True, color=color, alpha=0.2,
                    lw=0, label="recall won back by the fix")


def _in_windows(hours: pd.Series, windows) -> np.ndarray:
    """Whether each clock hour ``[h, h + 1)`` overlaps one of the ``(start, end)`` windows (fractional hours)."""
    h = hours.to_numpy(float)
    return np.any([(h < hi) & (h + 1 > lo) for lo, hi in windows], axis=0)


# --- strategies --------------------------------------------------------------------------------------

def plot_strategies(by_availability: pd.DataFrame, *, figsize: tuple[float, float] = (12, 4.6)) -> Figure:
    """Per strategy: production recall@1% on served vs unavailable rows, and their ratio against the guides."""
    table = by_availability.iloc[::-1].reset_index(drop=True)  # the naive strategy on top
    y = np.arange(len(table))
    with style.figure_style():
        fig, (ax, ax_r) = style.new_figure(figsize=figsize, ncols=2, width_ratios=[1.6, 1], sharey=True)
        for dy, col, status, label in ((0.2, "recall_served", "ok", "features served"),
                                       (-0.2, "recall_unavailable", "unavailable", "features unavailable")):
            ax.barh(y + dy, table[col], height=0.38, color=style.STATUS_COLORS[status], label=label)
        ax.set_yticks(y, table["strategy"])
        ax.set_xlim(0, 1)
        style.percent_axis(ax, axis="x")
        ax.set_xlabel("recall@1% in production (one threshold per strategy)")
        ax.set_ylabel("strategy for the missing value")
        ax.set_title("Recall@1% where online features were served vs unavailable", fontsize=10)
        ax.legend(loc="lower right")
        _ratios(ax_r, table, y)
        naive, best = by_availability.iloc[0], by_availability.loc[by_availability["ratio"].idxmax()]
        style.lesson_title(fig, f"With '{naive['strategy']}', fraud during an outage is caught {naive['ratio']:.0%} "
                                f"as often as otherwise; '{best['strategy']}' reaches {best['ratio']:.0%}")
    return fig


def _ratios(ax: Axes, table: pd.DataFrame, y: np.ndarray) -> None:
    """Recall ratio (unavailable / served) per strategy, coloured by the design's guides (vertical lines)."""
    fail, fix = sorted(RATIO_GUIDES)
    zone = np.select([table["ratio"] <= fail, table["ratio"] >= fix], ["unavailable", "ok"], "no_history")
    ax.hlines(y, 0, table["ratio"], color="#cccccc", lw=2)
    ax.scatter(table["ratio"], y, s=70, color=[style.STATUS_COLORS[z] for z in zone], zorder=3)
    for i, (ratio, label) in enumerate(RATIO_GUIDES.items()):
        ax.axvline(ratio, color="black", ls=":", lw=1)
        ax.annotate(label, xy=(ratio, 1.0), xycoords=("data", "axes fraction"), xytext=(3, -3 - 12 * i),
                    textcoords="offset points", va="top", fontsize=8.5)
    for yi, row in zip(y, table.itertuples()):
        ax.annotate(f"{row.missed_unavailable:,} missed", xy=(row.ratio, yi), xytext=(8, -10),
                    textcoords="offset points", fontsize=8, color="#555555")
    ax.set_xlim(0, 1.1)
    style.percent_axis(ax, axis="x")
    ax.set_xlabel("recall when unavailable / recall when served")
    ax.set_ylabel("strategy for the missing value")
    ax.set_title(f"Ratio, and the frauds missed of {int(table['frauds_unavailable'].max()):,}\n"
                 "scored while the service was down", fontsize=10)


# --- availability monitoring -------------------------------------------------------------------------

def plot_availability(availability: pd.DataFrame, peak_windows: tuple, *, feature: str = FEATURE,
                      days: int = 3, figsize: tuple[float, float] = (13, 4.8)) -> Figure:
    """The unavailable share per clock hour: the first days against the alert threshold, and every day."""
    shares = availability[availability["feature"] == feature]
    alerts = availability_alerts(shares, threshold=ALERT_THRESHOLD)
    with style.figure_style():
        fig, (ax, ax_map) = style.new_figure(figsize=figsize, ncols=2, width_ratios=[1.5, 1])
        _first_days(ax, shares, peak_windows, days)
        _hour_by_day(fig, ax_map, shares)
        style.lesson_title(fig, f"Monitor the service, not only the values: in {len(alerts)} of "
                                f"{len(shares):,} production hours more than {ALERT_THRESHOLD:.0%} of requests "
                                "went unanswered")
    return fig


def _first_days(ax: Axes, shares: pd.DataFrame, peak_windows: tuple, days: int) -> None:
    """Bars of the unavailable share per clock hour over the first ``days`` days, alerting hours dark."""
    start = shares["hour"].min().normalize()
    end = start + pd.Timedelta(days=days)
    hours = shares[shares["hour"] < end]
    style.shade_windows(ax, style.daily_windows(start, end, peak_windows), label="peak-load windows")
    fired = hours["unavailable"].to_numpy() > ALERT_THRESHOLD
    ax.bar(hours["hour"], hours["unavailable"], width=1 / 24, align="edge",
           color=[style.STATUS_COLORS["unavailable"] if f else "#f4a582" for f in fired])
    ax.plot([], [], "s", color=style.STATUS_COLORS["unavailable"], label=f"alerting hour ({fired.sum()})")
    style.alert_line(ax, ALERT_THRESHOLD, f"alert threshold ({ALERT_THRESHOLD:.0%})")
    ax.set_xlim(start, end)
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.xaxis.set_major_locator(mdates.HourLocator(byhour=[0, 12]))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %H:%M"))
    style.percent_axis(ax)
    ax.set_xlabel("clock hour of the request (event_time)")
    ax.set_ylabel(f"requests for {FEATURE}\nserved 'unavailable'", fontsize=9)
    ax.set_title(f"The first {days} days of production, hour by hour", loc="left")
    ax.legend(loc="upper left", ncols=3, fontsize=8.5)


def _hour_by_day(fig: Figure, ax: Axes, shares: pd.DataFrame) -> None:
    """A day × hour-of-day map of the unavailable share over the whole production window."""
    grid = shares.assign(day=shares["hour"].dt.normalize(), h=shares["hour"].dt.hour).pivot(
        index="day", columns="h", values="unavailable").reindex(columns=range(24))
    bounds = [0, ALERT_THRESHOLD, 0.25, 0.5, 0.75, 1.0]
    cmap = ListedColormap(["#f7f7f7", "#fcbba1", "#fb6a4a", "#cb181d", "#67000d"])
    days = mdates.date2num(grid.index.to_numpy())
    mesh = ax.pcolormesh(np.arange(25), np.append(days, days[-1] + 1), grid.to_numpy(), cmap=cmap,
                         norm=BoundaryNorm(bounds, cmap.N))
    ax.yaxis_date()
    ax.yaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.invert_yaxis()
    style.hour_of_day_axis(ax, "hour of day of the request")
    ax.set_ylabel("day of production")
    ax.set_title("Every production day", loc="left")
    bar = fig.colorbar(mesh, ax=ax, ticks=bounds, label="share served 'unavailable'")
    bar.ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
