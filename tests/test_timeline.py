"""The experiment timeline: when the team trains, extracts, deploys, and how long production runs."""

from __future__ import annotations

import pandas as pd
import pytest

import simulator
from simulator.experiment import FEATURE_WARMUP_DAYS, Timeline


def test_default_timeline_trains_after_the_warmup_and_deploys_at_mid_horizon(lesson_world):
    t = Timeline.for_world(lesson_world)
    start = pd.Timestamp(lesson_world.config.horizon.start)
    days = lesson_world.config.horizon.days
    assert t.train_start == start + pd.Timedelta(days=FEATURE_WARMUP_DAYS)
    assert t.extracted_at == start + pd.Timedelta(days=round(days / 2))
    assert t.production_end == start + pd.Timedelta(days=days)


def test_first_days_of_production_cuts_but_never_extends(lesson_world):
    t = Timeline.for_world(lesson_world)
    month = t.first_days_of_production(7)
    assert (month.train_start, month.extracted_at) == (t.train_start, t.extracted_at)
    assert month.production_end == t.extracted_at + pd.Timedelta(days=7)
    assert t.first_days_of_production(10_000).production_end == t.production_end


def test_a_horizon_too_short_for_a_timeline_is_refused():
    world = simulator.generate(simulator.preset("small").with_overrides(users=50), seed=0)  # 60 days
    with pytest.raises(ValueError, match="horizon.days"):
        Timeline.for_world(world)
