"""The audit on the lessons' own training tables: the naive pipeline's table is flagged HIGH in
every family and the correct pipeline's has no HIGH finding, on seeds 0-2 of the default world; and
each naive decision taken alone is flagged in its own family (seed 1; notebook 05 audits seed 0)."""

from __future__ import annotations

import functools

import pytest

from simulator import audit
from simulator.audit.world_tables import training_table
from simulator.cache import load_world
from simulator.pipelines import CORRECT, NAIVE

SEEDS = (0, 1, 2)
# Each decision the lessons teach, taken wrongly alone, and the family that must flag it.
MISTAKES = {
    "point in time off": (CORRECT.but(point_in_time=False), "time_travel"),
    "no label maturity": (CORRECT.but(label_maturity_days=None), "time_travel"),
    "zero fill with outages": (CORRECT.but(missing="zero"), "default_signalling"),
    "no context under cohort shift": (CORRECT.but(context_features=False), "population_shift"),
}


@functools.cache
def world(seed: int):
    return load_world("default", seed)  # one object per seed: its per-purchase features are built once


def high_families(seed: int, switches) -> dict[str, list[str]]:
    report = audit.run(*training_table(world(seed), switches))
    high = report.findings.query("severity == 'high'")
    return {family: list(ids) for family, ids in high.groupby("family")["id"]}


@pytest.mark.parametrize("seed", SEEDS)
def test_the_correct_pipeline_s_table_has_no_high_finding(seed):
    assert high_families(seed, CORRECT) == {}


@pytest.mark.parametrize("seed", SEEDS)
def test_the_naive_pipeline_s_table_is_flagged_in_every_family(seed):
    assert set(high_families(seed, NAIVE)) == {"time_travel", "default_signalling", "population_shift"}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_alone_is_flagged_high_in_its_family(mistake):
    switches, family = MISTAKES[mistake]
    assert set(high_families(1, switches)) == {family}
