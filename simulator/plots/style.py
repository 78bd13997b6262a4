"""One look for every figure: theme, palettes, titles and time axes.

Every plotting function in :mod:`simulator.plots` draws inside
:func:`figure_style` on a figure from :func:`new_figure`, so a figure looks
the same in a notebook, in ``figures/`` and in a test, whatever the caller's
own matplotlib settings. Colours mean one thing everywhere: a cohort, a
serving status or a fraud mechanism keeps its colour from figure to figure.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import matplotlib as mpl
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

_PALETTE = sns.color_palette("colorblind")

# The mature cohort in a calm blue, the cohorts that arrive later in warmer colours.
COHORT_COLORS = {"mature": _PALETTE[0], "growth": _PALETTE[2], "expansion": _PALETTE[1], "promo": _PALETTE[4]}
_SPARE = [_PALETTE[i] for i in (3, 5, 6, 8, 9, 7)]  # for cohorts a custom config names otherwise

# What the online feature service returned at decision time.
STATUS_COLORS = {"ok": _PALETTE[2], "no_history": "#9e9e9e", "unavailable": _PALETTE[3]}

# Why a chargeback arrived: the two fraud mechanisms and friendly fraud on a legitimate purchase.
MECHANISM_COLORS = {"account_takeover": "#882255", "new_account": "#ddaa33", "friendly": _PALETTE[7]}
MECHANISM_LABELS = {"account_takeover": "account takeover", "new_account": "new-account fraud",
                    "friendly": "friendly fraud (legit purchase)"}

# Mature users against everyone who arrived during the horizon (lesson 3's two groups).
GROUP_COLORS = {"mature": COHORT_COLORS["mature"], "new": "#c44e52"}

# A lesson's variants: the naive one (the way a busy team builds it) in grey, the fixes in colour.
VARIANT_COLORS = ("#555555", "#009988", "#aa3377", "#33bbee", "#ccbb44", "#ee6677")

TRANSACTIONS_COLOR = _PALETTE[0]
OUTAGE_COLOR = STATUS_COLORS["unavailable"]
PEAK_COLOR = "#f3e3b5"  # background band of the configured peak-load windows

_RC = {"axes.titlesize": 11, "axes.titleweight": "regular", "axes.labelsize": 10, "figure.titlesize": 12.5,
       "figure.titleweight": "bold", "legend.fontsize": 9, "legend.frameon": False}


def cohort_colors(names: Iterable[str]) -> dict[str, tuple]:
    """A colour per cohort: the default cohorts keep theirs, other names take spare colours in order."""
    spare = iter(_SPARE * 4)
    return {name: COHORT_COLORS[name] if name in COHORT_COLORS else next(spare) for name in names}


@contextmanager
def figure_style() -> Iterator[None]:
    """The seaborn theme (white grid, notebook scale) plus our title and legend sizes, temporarily."""
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"), mpl.rc_context(_RC):
        yield


def variant_colors(names: Iterable[str]) -> dict[str, str]:
    """A colour per variant in order: the first (the naive one) grey, the others the fixes' colours."""
    return dict(zip(names, VARIANT_COLORS * 2))


def new_figure(ax: Axes | None = None, *, figsize: tuple[float, float] = (9, 4.5), ncols: int = 1,
               nrows: int = 1, width_ratios: list[float] | None = None, height_ratios: list[float] | None = None,
               sharex: bool | str = False, sharey: bool | str = False) -> tuple[Figure, list[Axes]]:
    """A figure and its axes (row by row); with ``ax`` given (one panel only), draw into the caller's figure.

    Figures are made without pyplot, so a loop that draws many never leaks
    open figures; a notebook displays the returned Figure as a cell's value.
    """
    if ax is not None:
        if ncols * nrows != 1:
            raise ValueError(f"ax: this figure has {ncols * nrows} panels; pass ax=None and place it yourself")
        return ax.figure, [ax]
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, width_ratios=width_ratios, height_ratios=height_ratios,
                        sharex=sharex, sharey=sharey, squeeze=False)
    return fig, list(axes.flat)


def lesson_title(fig: Figure, lesson: str) -> None:
    """The figure's headline states its lesson; panel titles say what each panel measures."""
    fig.suptitle(lesson)


def note(ax: Axes, text: str, *, xy: tuple[float, float] = (0.02, 0.97), ha: str = "left",
         va: str = "top") -> None:
    """A boxed note at ``xy`` in axes fraction: the number a panel is about, in words."""
    ax.annotate(text, xy=xy, xycoords="axes fraction", ha=ha, va=va, fontsize=9,
                bbox={"boxstyle": "round", "fc": "white", "ec": "#bbbbbb"})


def alert_line(ax: Axes, y: float, label: str | None = None) -> None:
    """A monitor's alert threshold: a dashed horizontal line at ``y``."""
    ax.axhline(y, color="black", ls="--", lw=1.2, label=label, zorder=2)


def percent_axis(ax: Axes, axis: str = "y", decimals: int | None = 0) -> None:
    """Format a share axis (values in 0..1) as percentages (``decimals=None``: as many as the ticks need)."""
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(mticker.PercentFormatter(1.0, decimals=decimals))


def shade_windows(ax: Axes, windows: Iterable[tuple[float, float]], *, color: str = PEAK_COLOR,
                  label: str | None = None, alpha: float = 1.0, **kwargs) -> None:
    """Shade ``(start, end)`` spans of the x axis (hours, timestamps, ...) behind the data."""
    for i, (lo, hi) in enumerate(windows):
        ax.axvspan(lo, hi, color=color, alpha=alpha, lw=0, zorder=0, label=label if i == 0 else None, **kwargs)


def daily_windows(start, end, windows: Iterable[tuple[float, float]]) -> list[tuple]:
    """The ``(start, end)`` hour-of-day windows as timestamps on every day in ``[start, end)``."""
    windows = list(windows)
    return [(day + pd.Timedelta(hours=lo), day + pd.Timedelta(hours=hi))
            for day in pd.date_range(pd.Timestamp(start).normalize(), end, freq="D", inclusive="left")
            for lo, hi in windows]


def hour_of_day_axis(ax: Axes, label: str = "hour of day of event_time (platform clock)") -> None:
    """An x axis of hours 0..24 with a tick every three hours."""
    ax.set_xlim(0, 24)
    ax.set_xticks(range(0, 25, 3))
    ax.set_xlabel(label)
