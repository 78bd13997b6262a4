"""The lessons' figures: every registered one draws from its lesson's results; the numbers behind them add up.

The lessons need a 180-day world, so the figures are drawn on the 'lesson'
preset (seed 0), generated once; the figures of one lesson share one run of it
(``results`` is memoised per world), which is most of this module's time
(about a minute and a half). The data helpers are checked on small frames made
by hand.
"""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import simulator
from simulator import figures
from simulator.lessons import design_that_time
from simulator.plots import default_signalling as signalling_plots
from simulator.plots import population_shift as shift_plots
from simulator.plots import time_travel as travel_plots

from conftest import assert_figure_states_its_lesson

LESSONS = [name for name in figures.FIGURES if not name.startswith("00_")]


@pytest.fixture(scope="session")
def lesson_world_seed0() -> simulator.World:
    return simulator.generate(simulator.preset("lesson"), seed=0)


def test_every_lesson_has_its_figures():
    assert {name[:2] for name in LESSONS} == {"01", "02", "03", "04"}
    for name in LESSONS:  # ``--list`` names the plotting function, not an anonymous wrapper
        assert figures.FIGURES[name].function.__qualname__.startswith(("plot_", "capstone_")), name


@pytest.mark.parametrize("name", LESSONS)
def test_every_lesson_figure_draws_on_the_lesson_world(lesson_world_seed0, name):
    drawn = figures.FIGURES[name].function(lesson_world_seed0)
    if isinstance(drawn, str):  # the capstone's checklist: a question per failure, each with its measured cost
        assert drawn.startswith("# ") and drawn.count("\n## ") == 3, drawn
        assert all(f"**{label}**" in drawn for label in design_that_time.LABELS.values())
        assert "(seed 0)" in drawn, "costs quoted with the seed they were measured on"
    else:
        assert_figure_states_its_lesson(drawn, name)


def test_lesson_figure_passes_the_named_fields_or_the_whole_results():
    results = types.SimpleNamespace(a=1, b=2)
    seen = []

    def plot_seen(*args):
        seen.append(args)
        return Figure()

    figures.lesson_figure(lambda world: results, plot_seen, "b", "a")(None)
    figures.lesson_figure(lambda world: results, plot_seen)(None)
    assert seen == [(2, 1), (results,)]


# --- the data behind the figures, on frames made by hand -----------------------------------------

def test_maturity_by_age_pools_the_daily_counts():
    daily = pd.DataFrame({"mechanism": ["all"] * 4 + ["friendly"], "age_days": [0, 1, 2, 40, 0],
                          "eventual": [4, 2, 2, 10, 1], "known": [1, 1, 2, 9, 0]})
    daily["known_share"] = daily["known"] / daily["eventual"]
    pooled = travel_plots.maturity_by_age(daily, edges=(0, 1, 3, 30, 60)).set_index(["mechanism", "lo"])
    assert pooled.loc[("all", 1), ["eventual", "known"]].tolist() == [4, 3]
    assert pooled.loc[("all", 30), "hi"] == 60 and pooled.loc[("all", 30), "known_share"] == 0.9
    assert np.isnan(pooled.loc[("friendly", 1), "known_share"]), "a bin without fraud has no share"
    assert (pooled.groupby("mechanism")[["eventual", "known"]].sum()
            == daily.groupby("mechanism")[["eventual", "known"]].sum()).all().all()


def test_group_histogram_shares_sum_to_one_and_drop_missing_values():
    marginals = pd.DataFrame({"group": ["mature", "mature", "new", "new", "new"],
                              "x": [0.5, 3.0, 1.5, np.nan, 99.0]})
    hist = shift_plots.group_histogram(marginals, "x", np.array([0.0, 1.0, 2.0, 4.0]))
    assert np.allclose(hist.groupby("group")["share"].sum(), 1)
    new = hist[hist["group"] == "new"].set_index("lo")["share"]
    assert new.tolist() == [0.0, 0.5, 0.5], "NaN dropped, 99 pooled into the last bin"


def test_hours_overlapping_a_window():
    hours = pd.Series([10, 11, 13, 14, 18, 21, 22])
    inside = signalling_plots._in_windows(hours, ((11.5, 14.0), (18.5, 22.0)))
    assert inside.tolist() == [False, True, True, False, True, True, False]


def test_recall_in_peak_pools_the_frauds_caught():
    by_hour = pd.DataFrame({"hour": [11, 12, 15, 16] * 2, "frauds": [10, 30, 20, 20] * 2,
                            "recall_at_alert": [0.5, 0.1, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5],
                            "strategy": ["naive"] * 4 + ["fix"] * 4})
    pooled = signalling_plots.recall_in_peak(by_hour, ((12.0, 14.0),)).set_index(["strategy", "in_peak"])
    assert pooled.loc[("naive", True), "frauds"] == 30 and pooled.loc[("naive", True), "recall_at_alert"] == 0.1
    assert pooled.loc[("naive", False), "recall_at_alert"] == pytest.approx((5 + 10 + 20) / 50)
    assert (pooled.loc["fix", "recall_at_alert"] == 0.5).all()


def test_offline_vs_production_headline_reads_the_naive_row():
    table = pd.DataFrame({"experiment": ["naive", "naive", "fixed", "fixed"],
                          "setting": ["offline", "production"] * 2,
                          "roc_auc": [0.95, 0.94, 0.95, 0.95], "pr_auc": [0.5, 0.1, 0.3, 0.2],
                          "recall_at_alert": [0.7, 0.4, 0.55, 0.5]})
    fig = travel_plots.plot_offline_vs_production(table)
    assert "falls by 0.30" in fig.get_suptitle() and "ROC AUC moves by -0.01" in fig.get_suptitle()
    assert_figure_states_its_lesson(fig, "offline vs production")


def test_monthly_figure_from_a_small_table():
    monthly = pd.DataFrame({"strategy": ["naive"] * 3 + ["fix"] * 3, "month": [0, 1, 2] * 2,
                            "recall_at_alert": [0.5, 0.4, 0.3, 0.5, 0.5, 0.55]})
    fig = shift_plots.plot_monthly(monthly)
    assert "from 50% to 30%" in fig.get_suptitle() and "'fix' holds 55%" in fig.get_suptitle()
    assert_figure_states_its_lesson(fig, "monthly")
