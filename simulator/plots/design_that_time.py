"""Figure 8: where the gap comes from -- each decision's Shapley share, over seeds, and the path."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..lessons import design_that_time as lesson
from . import style


def _bars(ax, values: pd.DataFrame, *, sign: float, xlabel: str, title: str) -> None:
    """One horizontal bar per switch at the mean over seeds, a dot per seed."""
    names = list(lesson.SWITCHES)
    per_seed = values.pivot(index="switch", columns="seed", values="contribution").reindex(names) * sign
    mean = per_seed.mean(axis=1)
    y = np.arange(len(names))[::-1]
    colors = [style.VARIANT_COLORS[1] if v >= 0 else style.VARIANT_COLORS[2] for v in mean]
    ax.barh(y, mean, color=colors, height=0.6)
    for seed in per_seed.columns:
        ax.plot(per_seed[seed], y, "o", color="black", ms=4, label="one dot per seed" if seed == per_seed.columns[0] else None)
    for yi, v, lo, hi in zip(y, mean, per_seed.min(axis=1), per_seed.max(axis=1)):
        ax.annotate(f"{v:+.2f}" + (f"  ({lo:+.2f} to {hi:+.2f})" if per_seed.shape[1] > 1 else ""),
                    xy=(max(v, hi, 0), yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(y, [lesson.LABELS[n] for n in names])
    ax.set_ylabel("decision set right")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    lo, hi = min(0, per_seed.min().min()), max(0, per_seed.max().max())
    ax.set_xlim(lo - 0.02, hi + (hi - lo) * 0.75)


def plot_where_the_gap_comes_from(shapley: pd.DataFrame, path: pd.DataFrame, beside: pd.DataFrame, *,
                                  figsize: tuple[float, float] = (15, 4.8)) -> Figure:
    """(a) each decision's share of the all-naive gap, (b) of production recall@1% -- Shapley values,
    mean over the seeds in ``shapley`` (a ``seed`` column) with a dot per seed -- and (c) the path
    from all naive to all correct on one world, with the deployment fixes beside it."""
    seeds = sorted(shapley["seed"].unique())
    with style.figure_style():
        fig, (a, b, c) = style.new_figure(figsize=figsize, ncols=3, width_ratios=[1, 1, 1.25])
        _bars(a, shapley[shapley["target"] == "gap"], sign=-1.0,
              xlabel="offline − production recall@1% the mistake adds",
              title="(a) what each mistake adds to the gap")
        _bars(b, shapley[shapley["target"] == "production"], sign=1.0,
              xlabel="production recall@1% gained by getting it right",
              title="(b) what each decision is worth in production")
        a.legend(loc="lower right")
        steps = list(path["step"])
        x = np.arange(len(steps))
        c.plot(x, path["offline"], "o-", color=style.VARIANT_COLORS[0], label="offline (time-blocked CV)")
        c.plot(x, path["production"], "o-", color=style.VARIANT_COLORS[1], label="production (replayed as served)")
        c.fill_between(x, path["production"], path["offline"], color="#dddddd", zorder=0, label="the gap")
        extra = beside[~beside["strategy"].isin([lesson.ALL_NAIVE, lesson.ALL_CORRECT])]
        xe = len(steps) + np.arange(len(extra))
        c.plot(xe, extra["recall_at_alert"], "s", color=style.VARIANT_COLORS[2], label="deployment fixes (production)")
        for xi, v in zip(list(x) + list(xe), list(path["production"]) + list(extra["recall_at_alert"])):
            c.annotate(f"{v:.0%}", xy=(xi, v), xytext=(0, -14), textcoords="offset points", ha="center", fontsize=8)
        short = {lesson.FALLBACK: "+ degraded-mode fallback", lesson.RETRAINED: "+ retrained monthly"}
        c.set_xticks(list(x) + list(xe), steps + [short.get(s, s) for s in extra["strategy"]], fontsize=8,
                     rotation=35, ha="right", rotation_mode="anchor")
        c.set_ylim(0, 1)
        style.percent_axis(c)
        c.set_ylabel("recall@1%")
        c.set_xlabel("the pipeline, one decision set right at a time")
        c.set_title(f"(c) from all naive to all correct (seed {seeds[0]})")
        c.legend(loc="upper right", fontsize=8)
        naive, correct = path.iloc[0], path.iloc[-1]
        style.lesson_title(fig, f"Naive, offline promises {naive['offline']:.0%} recall@1% and production delivers "
                                f"{naive['production']:.0%}; all correct, {correct['offline']:.0%} and "
                                f"{correct['production']:.0%} (first {lesson.PRODUCTION_DAYS} days, "
                                f"Shapley over seeds {', '.join(map(str, seeds))})")
    return fig
