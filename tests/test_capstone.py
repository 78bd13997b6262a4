"""The capstone's machinery: the grid's cells, Shapley values and interactions on grids made by hand,
and the replay with a learner's own scikit-learn model (and the errors a bad one gets).

The signature on seeds 1 and 2 is in ``test_lesson_signatures.py``; the notebook asserts seed 0.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC

import simulator
from simulator.estimators import ModelError, as_learner
from simulator.experiment import Timeline, run, start
from simulator.lessons import design_that_time as capstone
from simulator.paths import ROOT
from simulator.pipelines import CORRECT, NAIVE, build_training_set, without_context

from conftest import assert_frames_equal

CELLS = list(itertools.product((False, True), repeat=len(capstone.SWITCHES)))


def grid_of(value) -> pd.DataFrame:
    """A hand-made grid: one row per cell with ``value(cell)`` as its ``production``."""
    return pd.DataFrame([{**dict(zip(capstone.SWITCHES, cell)), "production": value(cell)} for cell in CELLS])


# --- the grid's cells -----------------------------------------------------------------------------

def test_the_grid_holds_every_combination_once_from_naive_to_correct():
    assert len(capstone.GRID) == 16 and len(set(capstone.GRID.values())) == 16
    assert capstone.GRID[capstone.ALL_NAIVE] == NAIVE and capstone.GRID[capstone.ALL_CORRECT] == CORRECT
    assert sorted(capstone.cell_of(s) for s in capstone.GRID.values()) == CELLS
    for name, switches in capstone.GRID.items():
        assert capstone.switches_for(capstone.cell_of(switches)) == switches, name


def test_unknown_switches_are_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown switches \\['joins'\\].*point_in_time"):
        capstone.switches_for({"joins": True})
    with pytest.raises(ValueError, match="unknown switches \\['labels'\\]"):
        capstone.one_at_a_time(("labels",))


def test_one_at_a_time_gets_exactly_one_decision_wrong():
    variants = capstone.one_at_a_time()
    assert list(variants)[0] == capstone.ALL_CORRECT and len(variants) == 1 + len(capstone.FAILURES)
    wrong = [tuple(not on for on in capstone.cell_of(s)) for s in list(variants.values())[1:]]
    assert all(sum(w) == 1 for w in wrong)
    assert [capstone.SWITCHES[w.index(True)] for w in wrong] == list(capstone.FAILURES)


# --- Shapley values and interactions on grids made by hand ---------------------------------------

def test_an_additive_grid_gives_each_switch_its_own_effect():
    effects = dict(zip(capstone.SWITCHES, (0.2, -0.05, 0.03, 0.1)))
    grid = grid_of(lambda cell: 0.3 + sum(e for e, on in zip(effects.values(), cell) if on))
    assert capstone.shapley(grid, "production").to_dict() == pytest.approx(effects)
    assert (capstone.interactions(grid, "production")["difference"].abs() < 1e-12).all()


def test_a_joint_effect_is_split_evenly_and_shows_as_an_interaction():
    grid = grid_of(lambda cell: float(cell[0] and cell[3]))  # worth 1 only when both are right
    values = capstone.shapley(grid, "production")
    assert values.to_dict() == pytest.approx({"point_in_time": 0.5, "label_maturity": 0.0,
                                              "explicit_missing": 0.0, "context": 0.5})
    table = capstone.interactions(grid, "production")
    assert len(table) == 6, "each pair once: the difference is symmetric"
    pair = table.set_index(["switch", "other"]).loc[("point_in_time", "context")]
    assert pair["effect_when_other_wrong"] == 0 and pair["effect_when_other_right"] == 1
    assert pair["difference"] == -1
    assert (table.set_index(["switch", "other"]).drop(index=("point_in_time", "context"))["difference"] == 0).all()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1, 1), min_size=16, max_size=16))
def test_shapley_values_add_up_to_all_correct_minus_all_naive(values):
    grid = grid_of(lambda cell: values[CELLS.index(cell)])
    assert capstone.shapley(grid, "production").sum() == pytest.approx(values[-1] - values[0], abs=1e-9)


def test_shapley_needs_the_full_grid():
    with pytest.raises(ValueError, match="15 distinct cells.*each of the 16 cells"):
        capstone.shapley(grid_of(lambda cell: 0.0).iloc[1:], "production")


def test_path_and_exposure_read_the_right_cells():
    effects = (0.2, -0.05, 0.03, 0.1)  # a different effect per switch, so a mixed-up cell shows
    gap_table = grid_of(lambda cell: 0.3 + sum(e for e, on in zip(effects, cell) if on)).assign(offline=0.8)
    gap_table = gap_table.assign(gap=gap_table["offline"] - gap_table["production"],
                                 variant=[capstone.variant_name(c) for c in CELLS])
    path = capstone.path(gap_table)
    assert path["step"].iloc[0] == "all naive" and path["variant"].iloc[-1] == capstone.ALL_CORRECT
    assert path["step"].tolist()[1:] == [f"+ {capstone.LABELS[s]}" for s in capstone.SWITCHES]
    assert path["production"].tolist() == pytest.approx([0.3, 0.5, 0.45, 0.48, 0.58])
    exposure = capstone.exposure(gap_table).set_index("decision")
    assert exposure.index.tolist() == [capstone.LABELS[s] for s in capstone.SWITCHES]
    assert exposure["production_recall_lost"].tolist() == pytest.approx(list(effects))
    assert exposure["gap_added"].tolist() == pytest.approx(list(effects))


def test_a_grid_with_a_cell_twice_is_refused():
    grid = grid_of(lambda cell: float(sum(cell)))
    twice = pd.concat([grid.iloc[:-1], grid.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="16 rows and 15 distinct cells"):
        capstone.shapley(twice, "production")
    with pytest.raises(ValueError, match="17 rows"):
        capstone.shapley(pd.concat([grid, grid.iloc[[0]]]), "production")


def test_switches_outside_the_grid_are_not_taken_for_a_cell():
    for outside in (CORRECT.but(missing="nan"), CORRECT.but(label_maturity_days=14),
                    CORRECT.but(online_source="recomputed")):
        with pytest.raises(ValueError, match="not one of the grid's variants"):
            capstone.cell_of(outside)


# --- the learner's own model through the same builder, cross-validation and replay ---------------

@pytest.fixture(scope="module")
def world() -> simulator.World:
    return simulator.generate(simulator.preset("lesson"), seed=3)


@pytest.fixture(scope="module")
def timeline(world) -> Timeline:
    return Timeline.for_world(world).first_days_of_production(20)


@pytest.fixture(scope="module")
def table(world, timeline):
    return build_training_set(world, start=timeline.train_start, end=timeline.extracted_at, switches=CORRECT)


def logistic_pipeline():
    return make_pipeline(
        make_column_transformer((OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include="category")),
                                remainder=make_pipeline(SimpleImputer(add_indicator=True), StandardScaler())),
        LogisticRegression(max_iter=300, tol=1e-3))


def test_a_plain_pipeline_is_replayed_like_the_default_model(world, timeline, table):
    given = logistic_pipeline()
    (e,) = run(world, {"mine": CORRECT}, timeline, model=given).values()
    assert not hasattr(given[-1], "coef_"), "the estimator handed in is cloned, never fitted itself"
    expected = logistic_pipeline().fit(table.X, table.y).predict_proba(e.production_table.X)[:, 1]
    np.testing.assert_allclose(e.production["score"].to_numpy(), expected)
    assert e.offline is not None and e.offline["score"].between(0, 1).all()
    assert set(e.offline["txn_id"]) < set(table.frame["txn_id"]), "offline: the table's own rows, cross-validated"
    again = run(world, {"mine": CORRECT}, timeline, model=logistic_pipeline)["mine"]  # a factory works too
    np.testing.assert_array_equal(again.offline["score"].to_numpy(), e.offline["score"].to_numpy())


def test_variants_sharing_a_table_across_the_context_switch_see_what_they_would_alone(world, timeline, table):
    """A context-off variant gets the context-on table without context features: the same X and y
    as the table built without context, so the same model."""
    alone = build_training_set(world, start=timeline.train_start, end=timeline.extracted_at,
                               switches=CORRECT.but(context_features=False))
    shared = without_context(table)
    assert shared.features == alone.features and shared.switches == alone.switches
    assert_frames_equal(shared.X, alone.X)
    np.testing.assert_array_equal(shared.y, alone.y)
    started = start(world, {"with": CORRECT, "without": CORRECT.but(context_features=False)}, timeline, offline=False)
    assert started.tables["without"].frame is started.tables["with"].frame, "built once"
    assert started.tables["without"].features == alone.features
    started.result()


def test_an_unset_random_state_is_the_experiments_seed(table):
    forest = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=None)
    model = as_learner(make_pipeline(SimpleImputer(), forest))
    X = table.frame.assign(**{c: table.frame[c].cat.codes for c in ("region", "channel", "cohort_feature")})
    coded = type(table)(X, table.features, table.switches)
    first, second = model(coded, seed=7), model(coded, seed=7)
    assert first.classifier[-1].random_state == 7
    np.testing.assert_array_equal(first.score(coded), second.score(coded))


def test_a_model_without_predict_proba_is_refused_before_anything_is_built():
    with pytest.raises(ModelError, match="LinearSVC has no predict_proba.*CalibratedClassifierCV"):
        as_learner(LinearSVC())
    with pytest.raises(ModelError, match="has no fit or predict_proba"):
        as_learner(lambda: "not a model")
    with pytest.raises(ModelError, match="calling 'broken' to make a classifier failed: RuntimeError: no"):
        def broken():
            raise RuntimeError("no")
        as_learner(broken)


def test_categorical_columns_a_model_cannot_take_are_named(table):
    with pytest.raises(ModelError) as err:
        as_learner(LogisticRegression())(table, seed=0)
    message = str(err.value)
    assert "LogisticRegression failed to fit" in message and "OneHotEncoder" in message
    assert "categorical columns [" in message
    for column in ("region", "channel", "cohort_feature"):
        assert f"'{column}'" in message


def test_missing_values_a_model_cannot_take_are_named(world, timeline):
    no_context = build_training_set(world, start=timeline.train_start, end=timeline.extracted_at,
                                    switches=CORRECT.but(context_features=False))
    with pytest.raises(ModelError, match="with NaN .*missing='indicator'.*SimpleImputer") as err:
        as_learner(LogisticRegression())(no_context, seed=0)
    assert "categorical" not in str(err.value), "only what the table really has is named"


def test_a_failing_fit_in_the_background_surfaces_as_the_named_error(world, timeline):
    with pytest.raises(ModelError, match="LogisticRegression failed to fit"):
        run(world, {"bad": CORRECT}, timeline, model=LogisticRegression(), offline=False)


def test_the_readmes_own_model_example_runs_as_written():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Your own model in the replay"):]
    code = section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    exposure = namespace["capstone"].exposure(namespace["gaps"])
    assert list(exposure["decision"]) == [capstone.LABELS[s] for s in capstone.FAILURES]
    assert np.isfinite(exposure[["production_recall_lost", "gap_added"]].to_numpy()).all()
