"""The world tour: the rhythm of purchases, when chargebacks arrive, who buys, when the service fails.

Each figure has a data function returning a tidy DataFrame (numbers a notebook
or a test can check) and a ``plot_*`` function that draws it and returns a
:class:`~matplotlib.figure.Figure`. Time semantics, as in the tables: purchases
and outages are placed by ``event_time`` / ``start_time`` on the platform's one
wall clock; a chargeback's delay is its ``reported_at`` minus the purchase's
``event_time``, the time during which the fraud was real but not yet known.
"""

from __future__ import annotations

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..world import World
from . import style

MECHANISMS = ("account_takeover", "new_account", "friendly")
STATUS_FEATURE = "avg_txn_amount_last_7_days"  # the serving-log feature whose status the tour reports
DELAY_MARKERS = {"1 h": 1.0, "1 day": 24.0, "1 week": 24.0 * 7, "1 month": 24.0 * 30}  # hours
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# table -> (when the fact happened, when the platform could know it, in a phrase)
TWO_CLOCKS = {
    "users": ("signup_time", "signup_time", "an account is known from the moment it opens"),
    "merchants": ("onboarded_at", "onboarded_at", "a merchant is known once it takes payments"),
    "transactions": ("event_time", "event_time", "a purchase is scored at event_time; is_fraud is never known "
                                                 "then (ground truth)"),
    "chargebacks": ("event_time of txn_id", "reported_at", "fraud is real at the purchase, known only when "
                                                            "the dispute arrives"),
    "outages": ("[start_time, end_time)", "[start_time, end_time)", "requests fail while it lasts; the serving "
                                                                   "log shows the damage"),
    "batch_features": ("run_at", "available_at", "the nightly job reads facts known by run_at and publishes "
                                                 "at available_at"),
    "serving_log": ("event_time of txn_id", "event_time of txn_id", "what the online service answered at "
                                                                    "decision time: what production saw"),
}


# --- data ------------------------------------------------------------------------------------------

def _rows(table: pd.DataFrame, key: str, values: pd.Series) -> np.ndarray:
    """Positions in ``table`` of the rows whose ``key`` equals each of ``values`` (all must exist)."""
    rows = pd.Index(table[key]).get_indexer(values)
    if (rows < 0).any():
        raise KeyError(f"{key}: {int((rows < 0).sum())} values have no row in the table")
    return rows


def _tally(group: np.ndarray, n_groups: int, group_name: str, codes: np.ndarray, dtype: pd.CategoricalDtype,
           category_name: str, count_name: str) -> pd.DataFrame:
    """Tidy counts of every (group, category) pair, zeros included, with each category's share of its group.

    ``group`` holds integers in ``[0, n_groups)``; ``codes`` the category codes of ``dtype``.
    """
    k = len(dtype.categories)
    out = pd.DataFrame({group_name: np.repeat(np.arange(n_groups), k),
                        category_name: pd.Categorical.from_codes(np.tile(np.arange(k), n_groups), dtype=dtype),
                        count_name: np.bincount(group * k + codes, minlength=n_groups * k)})
    out["share"] = out[count_name] / out.groupby(group_name)[count_name].transform("sum").clip(lower=1)
    return out


def _hours_of_day(times: pd.Series) -> pd.Series:
    """Wall-clock time of day in fractional hours."""
    return (times - times.dt.normalize()) / pd.Timedelta(hours=1)


def in_peak(world: World, hours: pd.Series | np.ndarray, until: pd.Series | np.ndarray | None = None
            ) -> np.ndarray:
    """Whether each time of day (fractional hours) lies in a configured peak-load window.

    With ``until``, whether each span ``[hours, until)`` overlaps one.
    """
    lo_t = np.asarray(hours, float)
    hi_t = np.nextafter(lo_t, np.inf) if until is None else np.asarray(until, float)
    inside = np.zeros(lo_t.shape, bool)
    for lo, hi in world.config.outages.peak_windows_hours:  # a loop over the (two) windows
        inside |= (lo_t < hi) & (hi_t > lo)
    return inside


def new_cohorts(world: World) -> list[str]:
    """Cohorts that arrive during the horizon (the config gives them an ``arrival_fraction``)."""
    return [c.name for c in world.config.population.cohorts if c.arrival_fraction is not None]


def outage_minutes(world: World) -> pd.Series:
    """For every minute of the horizon (indexed by its start), whether an outage is in force."""
    start = pd.Timestamp(world.config.horizon.start)
    n = world.config.horizon.days * 24 * 60
    lo = ((world.outages["start_time"] - start) // pd.Timedelta(minutes=1)).clip(0, n).to_numpy()
    hi = ((world.outages["end_time"] - start) // pd.Timedelta(minutes=1)).clip(0, n).to_numpy()
    edges = np.bincount(lo, minlength=n + 1) - np.bincount(hi, minlength=n + 1)
    return pd.Series(np.cumsum(edges)[:n] > 0, index=pd.date_range(start, periods=n, freq="min"), name="in_outage")


def table_overview(world: World) -> pd.DataFrame:
    """One row per table: its size and its two clocks (see :data:`TWO_CLOCKS`)."""
    tables = world.tables()
    return pd.DataFrame({
        "table": list(tables),
        "rows": [len(df) for df in tables.values()],
        "columns": [len(df.columns) for df in tables.values()],
        "happened": [TWO_CLOCKS[name][0] for name in tables],
        "known": [TWO_CLOCKS[name][1] for name in tables],
        "meaning": [TWO_CLOCKS[name][2] for name in tables],
    })


def hourly_rhythm(world: World) -> pd.DataFrame:
    """Per hour of day: purchases and outage minutes, as counts and as shares of the whole horizon.

    Columns: ``hour`` (0..23, of ``event_time``), ``transactions``, ``transaction_share``,
    ``outage_minutes``, ``outage_share`` and ``in_peak`` (the hour overlaps a peak window).
    """
    hours = pd.RangeIndex(24, name="hour")
    txns = world.transactions["event_time"].dt.hour.value_counts().reindex(hours, fill_value=0)
    active = outage_minutes(world)
    minutes = active.groupby(active.index.hour).sum().reindex(hours, fill_value=0)
    peak = in_peak(world, hours, hours + 1)
    return pd.DataFrame({"transactions": txns, "transaction_share": txns / max(txns.sum(), 1),
                         "outage_minutes": minutes, "outage_share": minutes / max(minutes.sum(), 1),
                         "in_peak": peak}, index=hours).reset_index()


def weekday_rhythm(world: World) -> pd.DataFrame:
    """Per weekday: how many horizon days fall on it, purchases, and purchases per such day."""
    days = pd.date_range(pd.Timestamp(world.config.horizon.start), periods=world.config.horizon.days, freq="D")
    weekdays = pd.RangeIndex(7, name="weekday")
    n_days = pd.Series(days.day_of_week).value_counts().reindex(weekdays, fill_value=0)
    txns = world.transactions["event_time"].dt.day_of_week.value_counts().reindex(weekdays, fill_value=0)
    out = pd.DataFrame({"day": list(WEEKDAYS), "days": n_days, "transactions": txns}, index=weekdays)
    return out.assign(per_day=out["transactions"] / out["days"].clip(lower=1)).reset_index()


def report_delays(world: World) -> pd.DataFrame:
    """One row per chargeback: its mechanism and how long after the purchase it was reported.

    ``mechanism`` is the purchase's ``fraud_scenario`` for fraud disputes and
    ``friendly`` for disputes of legitimate purchases; ``delay_hours`` is
    ``reported_at - event_time``; ``same_day`` says the report came on the
    purchase's calendar day, so a nightly job keyed by date counts it on that day.
    """
    cb, txn = world.chargebacks, world.transactions
    rows = _rows(txn, "txn_id", cb["txn_id"])
    event_time = pd.Series(txn["event_time"].to_numpy()[rows], index=cb.index)
    scenario = txn["fraud_scenario"].iloc[rows].astype(str).to_numpy()
    mechanism = np.where(cb["reason"].to_numpy() == "friendly", "friendly", scenario)
    return pd.DataFrame({
        "txn_id": cb["txn_id"],
        "mechanism": pd.Categorical(mechanism, categories=list(MECHANISMS)),
        "event_time": event_time,
        "reported_at": cb["reported_at"],
        "delay_hours": (cb["reported_at"] - event_time) / pd.Timedelta(hours=1),
        "same_day": cb["reported_at"].dt.normalize() == event_time.dt.normalize(),
    })


def report_delay_summary(world: World) -> pd.DataFrame:
    """Per mechanism and for ``all`` chargebacks: how many, and the share reported within each marker.

    Columns: ``mechanism``, ``chargebacks``, ``within_1_h``, ``within_1_day``,
    ``within_1_week``, ``within_1_month``, ``after_1_week`` and ``same_day``.
    """
    d = report_delays(world)
    shares = pd.DataFrame({f"within_{name.replace(' ', '_')}": d["delay_hours"] <= hours
                           for name, hours in DELAY_MARKERS.items()})
    shares = shares.assign(after_1_week=~shares["within_1_week"], same_day=d["same_day"])
    per = shares.groupby(d["mechanism"], observed=False).mean()
    out = pd.concat([per, shares.mean().to_frame("all").T])
    counts = pd.concat([d["mechanism"].value_counts().reindex(per.index), pd.Series({"all": len(d)})])
    return out.assign(chargebacks=counts).rename_axis("mechanism").reset_index()


def cohort_mix(world: World) -> pd.DataFrame:
    """Purchases per week of ``event_time`` and cohort of the buyer; ``share`` sums to 1 per week.

    Week ``k`` covers days ``[7k, 7k + 7)`` of the horizon (the last one may be shorter).
    """
    start = pd.Timestamp(world.config.horizon.start)
    cohort = world.users["cohort"]
    code = cohort.cat.codes.to_numpy()[_rows(world.users, "user_id", world.transactions["user_id"])]
    week = ((world.transactions["event_time"] - start) // pd.Timedelta(days=7)).to_numpy()
    out = _tally(week, -(-world.config.horizon.days // 7), "week", code, cohort.dtype, "cohort", "transactions")
    out.insert(1, "week_start", start + pd.to_timedelta(out["week"] * 7, unit="D"))
    return out


def new_cohort_share(world: World) -> pd.DataFrame:
    """Per week: the share of purchases made by users of cohorts that arrive during the horizon."""
    mix = cohort_mix(world)
    new = mix["share"].where(mix["cohort"].isin(new_cohorts(world)), 0.0).rename("new_share")
    return new.groupby([mix["week"], mix["week_start"]]).sum().reset_index()


def outage_windows(world: World) -> pd.DataFrame:
    """The outages with their length, the hour of day they start and whether that is inside a peak window."""
    o = world.outages
    start_hour = _hours_of_day(o["start_time"])
    return pd.DataFrame({"start_time": o["start_time"], "end_time": o["end_time"],
                         "duration_minutes": (o["end_time"] - o["start_time"]) / pd.Timedelta(minutes=1),
                         "failure_rate": o["failure_rate"], "start_hour": start_hour,
                         "starts_in_peak": in_peak(world, start_hour)})


def serving_requests(world: World) -> pd.DataFrame:
    """Every online-feature request: its decision time, the status served and whether an outage was on.

    ``status`` is the serving log's ``<STATUS_FEATURE>_status``; ``in_outage``
    says the decision time fell in ``[start_time, end_time)`` of an outage.
    """
    log = world.serving_log
    t = world.transactions["event_time"].to_numpy()[_rows(world.transactions, "txn_id", log["txn_id"])]
    start, end = world.outages["start_time"].to_numpy(), world.outages["end_time"].to_numpy()
    i = np.searchsorted(start, t, side="right") - 1
    in_outage = (i >= 0) & (t < end[np.maximum(i, 0)]) if len(start) else np.zeros(len(t), bool)
    return pd.DataFrame({"txn_id": log["txn_id"].to_numpy(), "event_time": t,
                         "status": log[f"{STATUS_FEATURE}_status"].array, "in_outage": in_outage})


def serving_status(world: World, by: str = "hour", *, requests: pd.DataFrame | None = None) -> pd.DataFrame:
    """Requests and their share per served status, by ``hour`` of day or by ``in_outage``.

    Tidy: one row per group and status; ``share`` sums to 1 within each group.
    ``requests`` reuses a :func:`serving_requests` frame of this world.
    """
    req = serving_requests(world) if requests is None else requests
    if by not in ("hour", "in_outage"):
        raise ValueError(f"by: {by!r} is not allowed; expected 'hour' or 'in_outage'")
    if by == "hour":
        return _tally(req["event_time"].dt.hour.to_numpy(), 24, by, req["status"].cat.codes.to_numpy(),
                      req["status"].dtype, "status", "requests")
    out = _tally(req["in_outage"].to_numpy().astype(int), 2, by, req["status"].cat.codes.to_numpy(),
                 req["status"].dtype, "status", "requests")
    return out.assign(in_outage=out["in_outage"].astype(bool))


def transaction_rate(world: World, start, end, freq: str = "15min") -> pd.DataFrame:
    """Purchases per ``freq`` bin of ``event_time`` in ``[start, end)``, and the same as a rate per hour."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    t = world.transactions["event_time"]
    t = t[(t >= start) & (t < end)]
    bins = pd.date_range(start, end, freq=freq, inclusive="left")
    counts = t.dt.floor(freq).value_counts().reindex(bins, fill_value=0)
    per_hour = counts * (pd.Timedelta(hours=1) / pd.Timedelta(freq))
    return pd.DataFrame({"time": bins, "transactions": counts.to_numpy(), "per_hour": per_hour.to_numpy()})


# --- figures ---------------------------------------------------------------------------------------

def plot_rhythm(world: World, *, figsize: tuple[float, float] = (11, 4.5)) -> Figure:
    """Purchases and outage minutes by hour of day (peak windows shaded); purchases per weekday."""
    hourly, weekly = hourly_rhythm(world), weekday_rhythm(world)
    with style.figure_style():
        fig, (ax, ax_w) = style.new_figure(figsize=figsize, ncols=2, width_ratios=[3, 1.2])
        style.shade_windows(ax, world.config.outages.peak_windows_hours, label="peak-load windows (config)")
        ax.bar(hourly["hour"] + 0.5, hourly["transaction_share"], width=0.85, color=style.TRANSACTIONS_COLOR,
               alpha=0.8, label="purchases")
        ax.step(np.append(hourly["hour"], 24), np.append(hourly["outage_share"], hourly["outage_share"].iloc[-1]),
                where="post", color=style.OUTAGE_COLOR, lw=2, label="feature-service outage minutes")
        style.hour_of_day_axis(ax)
        style.percent_axis(ax, decimals=None)
        ax.set_ylabel("share of the horizon's total (%)")
        ax.set_title("Each hour's share of all purchases and of all outage time")
        ax.legend(loc="upper left")
        ax_w.bar(weekly["day"], weekly["per_day"], color=style.TRANSACTIONS_COLOR, alpha=0.8)
        ax_w.set_ylabel("purchases per day (average)")
        ax_w.set_xlabel("weekday of event_time")
        ax_w.set_title("Weekly rhythm")
        ax_w.tick_params(axis="x", labelsize=9)
        style.lesson_title(fig, "Purchases peak at lunch and in the evening, and the feature service fails "
                                "in those same hours")
    return fig


def plot_report_delay(world: World, *, figsize: tuple[float, float] = (12, 4.8)) -> Figure:
    """Chargeback delays (``reported_at - event_time``) on a log axis, by mechanism: histogram and cumulative."""
    delays = report_delays(world)
    summary = report_delay_summary(world).set_index("mechanism")
    shown = [m for m in MECHANISMS if (delays["mechanism"] == m).any()]
    labels = {m: f"{style.MECHANISM_LABELS[m]} (n={int(summary.loc[m, 'chargebacks']):,})" for m in shown}
    data = delays[delays["mechanism"].isin(shown)].assign(
        mechanism=lambda d: pd.Categorical(d["mechanism"].astype(str).map(labels), categories=list(labels.values())))
    palette = {labels[m]: style.MECHANISM_COLORS[m] for m in shown}
    with style.figure_style():
        fig, (ax_h, ax_c) = style.new_figure(figsize=figsize, ncols=2)
        sns.histplot(data, x="delay_hours", hue="mechanism", palette=palette, log_scale=True, bins=60,
                     multiple="stack", element="step", linewidth=0.5, legend=False, ax=ax_h)
        ax_h.set_ylabel("chargebacks per bin")
        ax_h.set_title("How many chargebacks arrive after each delay (stacked)")
        sns.ecdfplot(data, x="delay_hours", hue="mechanism", palette=palette, log_scale=True, lw=2, ax=ax_c,
                     legend=False)
        sns.ecdfplot(data, x="delay_hours", color="black", lw=1.5, ls="--", ax=ax_c, label="all chargebacks")
        handles = [Line2D([], [], color=c, lw=2, label=label) for label, c in palette.items()]
        ax_c.legend(handles=[*handles, ax_c.lines[-1]], loc="upper left")
        style.percent_axis(ax_c)
        ax_c.set_ylabel("share already reported")
        ax_c.set_title("Share of each mechanism's chargebacks reported by then")
        for ax in (ax_h, ax_c):
            _delay_axis(ax)
        same_day = summary.loc["all", "same_day"]
        ax_c.annotate(f"{same_day:.0%} are reported on the purchase's own\ncalendar day: a nightly count "
                      "joined by date\nalready 'knows' them at purchase time",
                      xy=(0.98, 0.05), xycoords="axes fraction", ha="right", va="bottom", fontsize=9,
                      bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"})
        s = summary.loc["all"]
        style.lesson_title(fig, f"Fraud is known late: {s['within_1_day']:.0%} of chargebacks arrive within a "
                                f"day, {s['after_1_week']:.0%} more than a week after the purchase")
    return fig


def _delay_axis(ax: Axes) -> None:
    """A log axis of delays in hours, labelled in human units, with dotted markers at 1 h/day/week/month."""
    ticks = {"1 min": 1 / 60, "1 h": 1.0, "1 day": 24.0, "1 wk": 24.0 * 7, "1 mo": 24.0 * 30, "1 yr": 24.0 * 365}
    for hours in DELAY_MARKERS.values():
        ax.axvline(hours, color="#777777", ls=":", lw=1, zorder=1)
    ax.set_xlim(0.5 / 60, 24.0 * 365)
    ax.set_xticks(list(ticks.values()), list(ticks))
    ax.minorticks_off()
    ax.set_xlabel("delay: reported_at − event_time (log scale)")


def plot_cohort_mix(world: World, *, ax: Axes | None = None, figsize: tuple[float, float] = (10, 4.5)) -> Figure:
    """Weekly share of purchases by the buyer's cohort, stacked; the new cohorts' share labelled."""
    mix = cohort_mix(world)
    shares = mix.pivot(index="week_start", columns="cohort", values="share")
    names = [str(c) for c in shares.columns]
    colors = style.cohort_colors(names)
    new = new_cohort_share(world)
    first, last = new["new_share"].iloc[0], new["new_share"].iloc[-1]
    with style.figure_style():
        fig, (ax,) = style.new_figure(ax, figsize=figsize)
        ax.stackplot(shares.index, shares.to_numpy().T, labels=names, colors=[colors[n] for n in names],
                     alpha=0.85, lw=0)
        ax.plot(new["week_start"], 1 - new["new_share"], color="black", lw=1.2, ls="--",
                label="new cohorts above this line")
        ax.annotate(f"new cohorts' share of purchases:\n{first:.0%} in the first week, {last:.0%} in the last",
                    xy=(0.02, 0.05), xycoords="axes fraction", ha="left", va="bottom", fontsize=9,
                    bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"})
        ax.set_xlim(shares.index[0], shares.index[-1])
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_ylim(0, 1)
        style.percent_axis(ax)
        ax.set_ylabel("share of the week's purchases")
        ax.set_xlabel("week of event_time (start date)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="buyer's cohort", reverse=True)
        style.lesson_title(fig, "Who the rows stand for changes: cohorts that arrive during the horizon "
                                "take over a growing share of purchases")
    return fig


def plot_outages(world: World, *, week: int | None = None, figsize: tuple[float, float] = (12, 4.8)) -> Figure:
    """Outage windows over one week against the purchase rate; share of requests served ``unavailable`` by hour.

    ``week`` counts whole weeks from the horizon start (default: the middle of the horizon).
    """
    days = world.config.horizon.days
    week = max(days // 14, 0) if week is None else week
    if not 0 <= week * 7 < days:
        raise ValueError(f"week: {week!r} is not allowed; expected 0 <= week < {-(-days // 7)}")
    start = pd.Timestamp(world.config.horizon.start) + pd.Timedelta(days=7 * week)
    end = min(start + pd.Timedelta(days=7), pd.Timestamp(world.config.horizon.start) + pd.Timedelta(days=days))
    rate = transaction_rate(world, start, end)
    windows = outage_windows(world)
    shown = windows[(windows["end_time"] > start) & (windows["start_time"] < end)]
    requests = serving_requests(world)
    by_hour = serving_status(world, by="hour", requests=requests)
    unavailable = by_hour[by_hour["status"] == "unavailable"]
    by_outage = serving_status(world, by="in_outage", requests=requests).set_index(["in_outage", "status"])["share"]
    with style.figure_style():
        fig, (ax, ax_h) = style.new_figure(figsize=figsize, ncols=2, width_ratios=[2.2, 1])
        style.shade_windows(ax, style.daily_windows(start, end, world.config.outages.peak_windows_hours),
                            label="peak-load windows")
        style.shade_windows(ax, zip(shown["start_time"], shown["end_time"]), color=style.OUTAGE_COLOR, alpha=0.45,
                            label="outage (service failing)")
        ax.plot(rate["time"], rate["per_hour"], color=style.TRANSACTIONS_COLOR, lw=1)
        ax.set_xlim(start, end)
        ax.set_ylim(0, rate["per_hour"].max() * 1.3)
        ax.xaxis.set_major_locator(mdates.DayLocator())
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%d %b"))
        ax.set_ylabel("purchases per hour (15-min bins)")
        ax.set_xlabel("event_time (platform clock)")
        ax.set_title(f"One week from {start:%d %b %Y}: {len(shown)} outages")
        ax.legend(loc="upper left", ncols=2)
        style.shade_windows(ax_h, world.config.outages.peak_windows_hours)
        ax_h.bar(unavailable["hour"] + 0.5, unavailable["share"], width=0.85,
                 color=style.STATUS_COLORS["unavailable"])
        style.hour_of_day_axis(ax_h, "hour of day of the request (event_time)")
        style.percent_axis(ax_h)
        ax_h.set_ylabel("share of requests served 'unavailable'")
        ax_h.set_title("Requests that got no features, by hour")
        inside = by_outage.get((True, "unavailable"), np.nan)
        outside = by_outage.get((False, "unavailable"), 0.0)
        ax_h.annotate(f"inside outages: {inside:.0%} unavailable\noutside outages: {outside:.0%}",
                      xy=(0.03, 0.97), xycoords="axes fraction", ha="left", va="top", fontsize=9,
                      bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"})
        style.lesson_title(fig, f"The feature service fails at peak load: {windows['starts_in_peak'].mean():.0%} of "
                                "outages start in a peak window, and only outages leave requests unanswered")
    return fig
