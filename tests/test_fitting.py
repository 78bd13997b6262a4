"""Models fitted in background threads are the models fitted one by one, on one OpenMP thread each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
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
    together = [f.result() for f in [model.in_background(model.fitted, t, 1) for t in tables]]
    for expected, fitted, table in zip(alone, together, tables):
        np.testing.assert_array_equal(fitted.score(table), expected)
    monkeypatch.setattr(model, "FIT_THREADS", 1)
    inline = model.in_background(model.fitted, lambda: tables[0], 1)
    assert inline.done(), "one thread: fitted where it was asked for"
    np.testing.assert_array_equal(inline.result().score(tables[0]), alone[0])


PINNED = """
import json
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
import simulator, simulator.model as model
from simulator.pipelines import CORRECT, build_training_set
world = simulator.generate(simulator.preset("small"), seed=4)
table = build_training_set(world, start="2026-01-10", end="2026-01-30", switches=CORRECT.but(label_maturity_days=None))
seen, real = [], model.fit
def recording(table, **kwargs):
    seen.append(_openmp_effective_n_threads())
    return real(table, **kwargs)
model.fit = recording
model.FIT_THREADS = 2
for f in [model.in_background(model.fitted, table, 0) for _ in range(2)]:
    f.result()
print(json.dumps({"here": _openmp_effective_n_threads(), "fits": seen}))
"""


def test_each_background_fit_uses_one_openmp_thread():
    """With OpenMP allowed two threads, a background fit still gets one (the pin is per thread)."""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", PINNED], env=env, capture_output=True, text=True, check=True)
    threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert threads == {"here": 2, "fits": [1, 1]}
