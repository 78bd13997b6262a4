"""Models fitted in background threads are the models fitted one by one, on one OpenMP thread each."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

import simulator
import simulator.model as model
from simulator.pipelines import CORRECT, NAIVE, build_training_set

from conftest import horizon_bounds


@pytest.fixture(scope="module")
def tables():
    world = simulator.generate(simulator.preset("small"), seed=4)
    start, _ = horizon_bounds(world)
    windows = [(start + pd.Timedelta(days=d), start + pd.Timedelta(days=d + 20)) for d in (5, 15, 25)]
    return [build_training_set(world, start=a, end=b, switches=s.but(label_maturity_days=None))
            for a, b in windows for s in (CORRECT, NAIVE)]


def test_background_fits_give_the_models_fitted_one_by_one(tables, monkeypatch):
    alone = [model.fit(t, seed=1).score(t) for t in tables]
    together = [f.result() for f in [model.fit_in_background(t, seed=1) for t in tables]]
    for expected, fitted, table in zip(alone, together, tables):
        np.testing.assert_array_equal(fitted.score(table), expected)
    monkeypatch.setattr(model, "FIT_THREADS", 1)
    inline = model.fit_in_background(lambda: tables[0], seed=1)
    assert inline.done(), "one thread: fitted where it was asked for"
    np.testing.assert_array_equal(inline.result().score(tables[0]), alone[0])


def test_each_background_fit_uses_one_openmp_thread(tables, monkeypatch):
    seen = []
    real = model.fit

    def recording(table, **kwargs):
        seen.append(_openmp_effective_n_threads())
        return real(table, **kwargs)

    monkeypatch.setattr(model, "fit", recording)
    for f in [model.fit_in_background(t) for t in tables[:2]]:
        f.result()
    assert seen == [1, 1]
