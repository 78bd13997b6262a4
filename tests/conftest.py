"""Shared worlds for the tests: generated once per session, never written to disk.

* ``small_world`` -- the 'small' preset, parametrised over :data:`SMALL_SEEDS`, for
  invariants and brute-force recomputations (any test that uses it runs per seed).
* ``lesson_world`` -- the 'lesson' preset, for statistics against the config:
  large enough that a binomial tolerance of a few sigma can actually fail.
* ``long_world`` -- a handful of users over ten years, for per-day mechanisms
  (outages) that need many days rather than many users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import simulator

SMALL_SEEDS = (0, 1, 2)
LESSON_SEED = 2024
LONG_SEED = 11


@pytest.fixture(scope="session", params=SMALL_SEEDS, ids=lambda s: f"seed{s}")
def small_world(request) -> simulator.World:
    return simulator.generate(simulator.preset("small"), seed=request.param)


@pytest.fixture(scope="session")
def lesson_world() -> simulator.World:
    return simulator.generate(simulator.preset("lesson"), seed=LESSON_SEED)


@pytest.fixture(scope="session")
def long_world() -> simulator.World:
    config = simulator.preset("small").with_overrides(days=3650, users=10)
    return simulator.generate(config, seed=LONG_SEED)


def horizon_bounds(world: simulator.World) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[start, end)`` of the world's horizon as timestamps."""
    start = pd.Timestamp(world.config.horizon.start)
    return start, start + pd.Timedelta(days=world.config.horizon.days)


def assert_within_sigmas(observed: float, expected: float, variance: float, *, sigmas: float = 4.0,
                         what: str = "") -> None:
    """``observed`` is within ``sigmas`` standard deviations of ``expected``.

    A zero variance demands equality (up to float error): a mechanism the config
    switched off must produce nothing.
    """
    tolerance = sigmas * np.sqrt(variance) + 1e-9
    assert abs(observed - expected) <= tolerance, (
        f"{what}: observed {observed:g}, expected {expected:g} +- {tolerance:g} ({sigmas:g} sigma)")


def assert_frames_equal(left: pd.DataFrame, right: pd.DataFrame, obj: str = "DataFrame", **options) -> None:
    """``pandas.testing.assert_frame_equal``, with categorical columns compared by categories and codes.

    Same strictness (dtypes, category order, index), but pandas' own categorical
    comparison takes about a second per 50k rows, which would dominate the suite.
    ``options`` go to ``assert_frame_equal`` (``check_exact=True``: floats to the bit).
    """
    assert list(left.columns) == list(right.columns), f"{obj}: columns differ"
    cats = [c for c in left.columns if isinstance(left[c].dtype, pd.CategoricalDtype)]
    for c in cats:
        assert isinstance(right[c].dtype, pd.CategoricalDtype), f"{obj}.{c}: not categorical on the right"
        for side in (left[c].cat, right[c].cat):
            assert side.categories.is_unique
        pd.testing.assert_index_equal(left[c].cat.categories, right[c].cat.categories, obj=f"{obj}.{c} categories")
        assert left[c].cat.ordered == right[c].cat.ordered, f"{obj}.{c}: ordered differs"
        np.testing.assert_array_equal(left[c].cat.codes.to_numpy(), right[c].cat.codes.to_numpy(),
                                      err_msg=f"{obj}.{c} values differ")
    pd.testing.assert_frame_equal(left.drop(columns=cats), right.drop(columns=cats), obj=obj, **options)


def assert_figure_states_its_lesson(fig, name: str) -> None:
    """``fig`` has a headline, and every axis with data labels each of its axes that shows tick labels.

    Axes whose tick labels are hidden (inner panels of a shared axis, the x axis
    of a twin, a colorbar's short side) need no label.
    """
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure), f"{name}: not a Figure"
    assert fig.get_suptitle(), f"{name}: the figure states no lesson"
    drawn = [ax for ax in fig.axes if ax.has_data()]
    assert drawn, f"{name}: no axis has data"
    fig.draw_without_rendering()  # tick labels get their text and visibility
    for ax in drawn:
        for axis, label in ((ax.xaxis, ax.get_xlabel()), (ax.yaxis, ax.get_ylabel())):
            shown = axis.get_visible() and any((t.label1.get_visible() and t.label1.get_text())
                                               or (t.label2.get_visible() and t.label2.get_text())
                                               for t in axis.get_major_ticks())
            assert label or not shown, f"{name}: panel {ax.get_title()!r} shows {axis.axis_name} values, no label"
