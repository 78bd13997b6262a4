"""Every figure the project publishes, and the command that regenerates them.

``python -m simulator.figures`` (``make figures``) loads each figure's world
from the cache (:func:`simulator.cache.load_world`; generated on first use),
calls the figure's function and writes ``figures/<name>.png`` -- or
``figures/<name>.md`` for a function that returns Markdown (the capstone's
checklist). The figures folder is always rebuilt, never edited by hand.

To publish a figure, add one line to :data:`FIGURES`: its file name (prefixed
with its notebook's number) and an :class:`Entry` holding the function (a
:class:`~simulator.world.World` in, a matplotlib Figure out) and, when it is
not the canonical one, the world's preset and seed. A figure across seeds
names the others in ``more_seeds`` and takes one world per seed. A lesson's
figure draws from the lesson's memoised results (:func:`lesson_figure`), so
its figures share one run of the lesson.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple, Sequence

from matplotlib.figure import Figure

from . import cache, paths
from .config import PRESETS
from .lessons import default_signalling, design_that_time, population_shift, time_travel
from .plots import default_signalling as signalling_plots
from .plots import design_that_time as capstone_plots
from .plots import population_shift as shift_plots
from .plots import time_travel as travel_plots
from .plots import world as tour
from .world import World

DPI = 120


class Entry(NamedTuple):
    """How to draw one figure: ``function(world, *more)`` on the world of ``preset`` and ``seed``
    (and on one world per seed of ``more_seeds``), returning a Figure or Markdown text."""

    function: Callable[..., Figure | str]
    preset: str = "default"
    seed: int = 0
    more_seeds: tuple[int, ...] = ()


def lesson_figure(results: Callable[[World], Any], plot: Callable[..., Figure],
                  *fields: str) -> Callable[[World], Figure]:
    """``world -> plot(*fields of results(world))``; no fields: ``plot(results(world))``.

    The returned function carries ``plot``'s name, so ``--list`` names the plotting function.
    """
    def draw(world: World) -> Figure:
        r = results(world)
        return plot(*(getattr(r, f) for f in fields)) if fields else plot(r)

    draw.__module__, draw.__qualname__ = plot.__module__, plot.__qualname__
    draw.__doc__ = f"{plot.__qualname__} of {results.__module__}.results({', '.join(fields) or 'all'})"
    return draw


def capstone_figure(*worlds: World) -> Figure:
    """Figure 8 from the capstone's results on each world (its Shapley values per seed)."""
    results = {w.seed: design_that_time.results(w) for w in worlds}
    first = next(iter(results.values()))
    return capstone_plots.plot_where_the_gap_comes_from(design_that_time.across_seeds(results, "shapley"),
                                                        first.path, first.beside)


def capstone_checklist(*worlds: World) -> str:
    """The capstone's pre-launch checklist, with its costs measured on each world, as Markdown."""
    return design_that_time.checklist_markdown({w.seed: design_that_time.results(w) for w in worlds})



FIGURES: dict[str, Entry] = {
    "00_rhythm": Entry(tour.plot_rhythm),
    "00_report_delay": Entry(tour.plot_report_delay),
    "00_cohort_mix": Entry(tour.plot_cohort_mix),
    "00_outages": Entry(tour.plot_outages),
    "01_user_day": Entry(lesson_figure(time_travel.results, travel_plots.plot_user_day, "user_day")),
    "01_offline_vs_production": Entry(lesson_figure(time_travel.results, travel_plots.plot_offline_vs_production,
                                                    "offline_vs_production")),
    "01_label_maturity": Entry(lesson_figure(time_travel.results, travel_plots.plot_label_maturity, "maturity",
                                             "missing_label_share")),
    "02_default_bucket": Entry(lesson_figure(default_signalling.results, signalling_plots.plot_default_bucket,
                                             "fraud_rate_by_value", "who_is_zero")),
    "02_recall_by_hour": Entry(lesson_figure(default_signalling.results, signalling_plots.plot_recall_by_hour,
                                             "recall_by_hour", "peak_windows_hours")),
    "02_strategies": Entry(lesson_figure(default_signalling.results, signalling_plots.plot_strategies,
                                         "recall_by_availability")),
    "02_availability": Entry(lesson_figure(default_signalling.results, signalling_plots.plot_availability,
                                           "availability", "peak_windows_hours")),
    "03_cohorts_alike": Entry(lesson_figure(population_shift.results, shift_plots.plot_cohorts_alike, "marginals",
                                            "ks_between_cohorts", "fraud_rate_by_cohort")),
    "03_monitoring": Entry(lesson_figure(population_shift.results, shift_plots.plot_monitoring)),
    "03_monthly": Entry(lesson_figure(population_shift.results, shift_plots.plot_monthly, "monthly")),
    "04_where_the_gap_comes_from": Entry(capstone_figure, more_seeds=(1, 2)),
    "04_checklist": Entry(capstone_checklist, more_seeds=(1, 2)),
}


def save(drawn: Figure | str, folder: Path, name: str) -> Path:
    """Write a figure as ``<name>.png`` or Markdown as ``<name>.md``, atomically: a reader never
    sees a half-written file."""
    suffix = ".md" if isinstance(drawn, str) else ".png"
    path = folder / f"{name}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{suffix}")
    try:
        if isinstance(drawn, str):
            tmp.write_text(drawn if drawn.endswith("\n") else drawn + "\n", encoding="utf-8")
        else:
            drawn.savefig(tmp, dpi=DPI, bbox_inches="tight")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulator.figures",
                                description="Regenerate the project's figures as PNGs.")
    p.add_argument("--only", nargs="+", metavar="NAME", help="draw only these figures (see --list)")
    p.add_argument("--list", action="store_true", help="list the figures with their world and exit")
    p.add_argument("--out", type=Path, default=None, help=f"output folder (default: {paths.FIGURES})")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="draw every figure on this preset's world instead of its own (e.g. small, for a quick look)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Draw the selected figures into the output folder; one printed line per figure."""
    p = parser()
    args = p.parse_args(argv)
    if args.only:
        unknown = [name for name in args.only if name not in FIGURES]
        if unknown:
            p.error(f"--only: unknown figure {', '.join(map(repr, unknown))}; "
                    f"allowed names: {', '.join(FIGURES)}")
    selected = {name: FIGURES[name] for name in (args.only or FIGURES)}
    if args.list:
        for name, e in selected.items():
            seeds = ", ".join(map(str, (e.seed, *e.more_seeds)))
            print(f"{name}  {e.function.__module__}.{e.function.__qualname__}  (preset {e.preset}, "
                  f"seed{'s' if e.more_seeds else ''} {seeds})")
        return 0
    out = Path(args.out) if args.out is not None else paths.FIGURES
    worlds: dict[tuple[str, int], World] = {}
    for name, e in selected.items():
        preset = args.preset or e.preset
        keys = [(preset, seed) for seed in (e.seed, *e.more_seeds)]
        for key in keys:
            if key not in worlds:
                worlds[key] = cache.load_world(*key)
        path = save(e.function(*(worlds[k] for k in keys)), out, name)
        print(f"{name}: {path}  (preset {preset}, seed{'s' if e.more_seeds else ''} "
              f"{', '.join(str(k[1]) for k in keys)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
