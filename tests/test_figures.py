"""The figures: every registered one draws on a small world, its data adds up, the command writes PNGs.

Data functions are checked against the world's own tables (counts that must
add up, shares that must sum to one) on two seeds; figures are drawn on one.
The ``figures`` command is run with the world loader replaced by the small
world, so no test generates or reads the default world. The lessons' figures
need a longer world; ``test_lesson_figures.py`` draws them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import simulator
import simulator.plots.world as tour
from simulator import figures
from simulator.config import PRESETS
from simulator.plots import style

from conftest import assert_figure_states_its_lesson

TOUR = [name for name in figures.FIGURES if name.startswith("00_")]  # drawable on any world


@pytest.fixture(scope="module")
def world() -> simulator.World:
    return simulator.generate(simulator.preset("small"), seed=0)


@pytest.fixture(scope="module", params=(0, 1), ids=lambda s: f"seed{s}")
def any_world(request) -> simulator.World:
    return simulator.generate(simulator.preset("small"), seed=request.param)


# --- the registry and every figure in it ---------------------------------------------------------

def test_registry_names_are_numbered_and_worlds_exist():
    assert figures.FIGURES, "no figures registered"
    for name, entry in figures.FIGURES.items():
        assert re.fullmatch(r"\d\d_[a-z0-9_]+", name), name
        assert callable(entry.function) and entry.preset in PRESETS and entry.seed >= 0, name


@pytest.mark.parametrize("name", TOUR)
def test_every_world_tour_figure_draws_on_a_small_world(world, name):
    assert_figure_states_its_lesson(figures.FIGURES[name].function(world), name)


def test_a_one_panel_figure_draws_into_the_callers_axes(world):
    fig = Figure()
    ax = fig.add_subplot()
    assert tour.plot_cohort_mix(world, ax=ax) is fig and ax.has_data()


def test_outages_figure_rejects_a_week_outside_the_horizon(world):
    with pytest.raises(ValueError, match="week: 9 is not allowed"):
        tour.plot_outages(world, week=9)


def test_cohort_colours_are_stable_and_distinct():
    colors = style.cohort_colors(["mature", "students", "promo", "retirees"])
    assert colors["mature"] == style.COHORT_COLORS["mature"] and colors["promo"] == style.COHORT_COLORS["promo"]
    assert len(set(colors.values())) == 4


# --- the data behind the figures -----------------------------------------------------------------

def test_hourly_rhythm_adds_up(any_world):
    h = tour.hourly_rhythm(any_world)
    assert list(h["hour"]) == list(range(24))
    assert h["transactions"].sum() == len(any_world.transactions)
    assert h["transaction_share"].sum() == pytest.approx(1) and h["outage_share"].sum() == pytest.approx(1)
    assert h["outage_minutes"].sum() == tour.outage_minutes(any_world).sum()
    peak_hours = {h_ for lo, hi in any_world.config.outages.peak_windows_hours
                  for h_ in range(int(np.floor(lo)), int(np.ceil(hi)))}
    assert set(h.loc[h["in_peak"], "hour"]) == peak_hours


def test_outage_minutes_cover_the_outages(any_world):
    active = tour.outage_minutes(any_world)
    o = any_world.outages
    assert len(active) == any_world.config.horizon.days * 24 * 60
    total = ((o["end_time"] - o["start_time"]) / pd.Timedelta(minutes=1)).sum()
    assert abs(active.sum() - total) <= len(o)  # each outage rounded to whole minutes at both ends


def test_weekday_rhythm_adds_up(any_world):
    w = tour.weekday_rhythm(any_world)
    assert w["days"].sum() == any_world.config.horizon.days
    assert w["transactions"].sum() == len(any_world.transactions)
    assert np.allclose(w["per_day"] * w["days"], w["transactions"])


def test_in_peak_windows_include_their_start_and_exclude_their_end(world):
    lo, hi = world.config.outages.peak_windows_hours[0]
    assert list(tour.in_peak(world, [lo, hi, lo - 0.01])) == [True, False, False]


def test_report_delays_match_the_chargebacks(any_world):
    d = tour.report_delays(any_world)
    cb = any_world.chargebacks
    assert len(d) == len(cb) and (d["delay_hours"] > 0).all() and d["mechanism"].notna().all()
    assert (d["mechanism"] == "friendly").sum() == (cb["reason"] == "friendly").sum()
    fraud = d[d["mechanism"] != "friendly"].merge(any_world.transactions[["txn_id", "fraud_scenario"]], on="txn_id")
    assert (fraud["mechanism"].astype(str) == fraud["fraud_scenario"].astype(str)).all()
    same = d["reported_at"].dt.date == d["event_time"].dt.date
    assert (d["same_day"] == same).all()


def test_report_delay_summary_is_consistent(any_world):
    s = tour.report_delay_summary(any_world).set_index("mechanism")
    assert list(s.index) == [*tour.MECHANISMS, "all"]
    per_mechanism = s.loc[list(tour.MECHANISMS), "chargebacks"].sum()
    assert s.loc["all", "chargebacks"] == len(any_world.chargebacks) == per_mechanism
    within = s.loc["all", ["within_1_h", "within_1_day", "within_1_week", "within_1_month"]].to_numpy(float)
    assert (np.diff(within) >= 0).all() and 0 <= within[0] and within[-1] <= 1
    assert s.loc["all", "after_1_week"] == pytest.approx(1 - s.loc["all", "within_1_week"])


def test_cohort_mix_shares_sum_to_one_each_week(any_world):
    mix = tour.cohort_mix(any_world)
    cohorts = [c.name for c in any_world.config.population.cohorts]
    assert mix["transactions"].sum() == len(any_world.transactions)
    assert mix["week"].nunique() == -(-any_world.config.horizon.days // 7)
    assert (mix.groupby("week")["cohort"].apply(list) == pd.Series([cohorts] * mix["week"].nunique())).all()
    assert np.allclose(mix.groupby("week")["share"].sum(), 1)


def test_new_cohort_share_is_the_complement_of_the_existing_cohorts(any_world):
    new = tour.new_cohort_share(any_world)
    mix = tour.cohort_mix(any_world)
    existing = mix[~mix["cohort"].isin(tour.new_cohorts(any_world))].groupby("week")["share"].sum()
    assert np.allclose(new["new_share"], 1 - existing.to_numpy())
    assert tour.new_cohorts(any_world) == ["growth", "expansion", "promo"]


def test_outage_windows_and_serving_status(any_world):
    windows = tour.outage_windows(any_world)
    assert len(windows) == len(any_world.outages) and (windows["duration_minutes"] > 0).all()
    assert windows["starts_in_peak"].dtype == bool
    requests = tour.serving_requests(any_world)
    assert len(requests) == len(any_world.serving_log)
    assert requests.loc[requests["status"] == "unavailable", "in_outage"].all()
    for by in ("hour", "in_outage"):
        status = tour.serving_status(any_world, by=by, requests=requests)
        assert status["requests"].sum() == len(requests)
        assert np.allclose(status.groupby(by)["share"].sum(), 1)
    with pytest.raises(ValueError, match="by: 'cohort' is not allowed"):
        tour.serving_status(any_world, by="cohort", requests=requests)


def test_transaction_rate_counts_every_purchase_once(world):
    start = pd.Timestamp(world.config.horizon.start)
    rate = tour.transaction_rate(world, start, start + pd.Timedelta(days=world.config.horizon.days), freq="1h")
    assert rate["transactions"].sum() == len(world.transactions)
    assert (rate["per_hour"] == rate["transactions"]).all()


def test_table_overview_names_both_clocks_of_every_table(world):
    overview = tour.table_overview(world)
    assert list(overview["table"]) == list(world.tables())
    assert (overview["rows"] == [len(t) for t in world.tables().values()]).all()
    assert overview[["happened", "known", "meaning"]].map(bool).all().all()


# --- the command ---------------------------------------------------------------------------------

@pytest.fixture
def small_loader(monkeypatch, world):
    """Serve the small world to the figures command, whatever preset it asks for."""
    asked = []

    def load_world(preset, seed, **kwargs):
        asked.append((preset, seed))
        return world

    monkeypatch.setattr(simulator.cache, "load_world", load_world)
    return asked


def test_main_writes_only_the_named_figure(tmp_path, small_loader, capsys):
    assert figures.main(["--only", "00_rhythm", "--out", str(tmp_path)]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["00_rhythm.png"]
    assert (tmp_path / "00_rhythm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.count("\n") == 1
    assert small_loader == [("default", 0)]


def test_main_writes_to_the_figures_folder_by_default(tmp_path, monkeypatch, small_loader, capsys):
    monkeypatch.setattr(simulator.paths, "FIGURES", tmp_path / "figures")
    assert figures.main(["--only", "00_cohort_mix", "00_outages"]) == 0
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["00_cohort_mix.png", "00_outages.png"]
    assert len(small_loader) == 1, "one world per (preset, seed), loaded once"


def test_main_rejects_an_unknown_name_naming_the_allowed_ones(tmp_path, small_loader, capsys):
    with pytest.raises(SystemExit) as exc:
        figures.main(["--only", "00_nope", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'00_nope'" in err and all(name in err for name in figures.FIGURES)
    assert not any(tmp_path.iterdir()) and small_loader == []


def test_main_lists_the_figures_without_drawing(small_loader, capsys):
    assert figures.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in figures.FIGURES) and small_loader == []
    assert "04_where_the_gap_comes_from" in out and "seeds 0, 1, 2" in out


def test_main_hands_a_figure_across_seeds_one_world_per_seed(tmp_path, monkeypatch, small_loader, capsys):
    seen = []
    entry = figures.Entry(lambda *worlds: seen.append(worlds) or "# Markdown\n", more_seeds=(1, 2))
    monkeypatch.setitem(figures.FIGURES, "04_test_page", entry)
    assert figures.main(["--only", "04_test_page", "--out", str(tmp_path)]) == 0
    assert small_loader == [("default", 0), ("default", 1), ("default", 2)] and len(seen[0]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["04_test_page.md"], "Markdown is saved as .md, nothing half-written"
    assert (tmp_path / "04_test_page.md").read_text() == "# Markdown\n"
