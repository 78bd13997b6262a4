"""The drift monitor's KS statistic: the same number as scipy's, from a reference sorted once."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ks_2samp

from simulator.drift import Reference, ks_statistic

# Few distinct values (ties, the counts of velocity features) and continuous ones, with NaNs.
VALUES = st.lists(st.one_of(st.integers(0, 5).map(float), st.floats(-1e6, 1e6), st.just(float("nan"))),
                  min_size=0, max_size=40)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's p-value on tiny samples; only its statistic is used
@settings(max_examples=400, deadline=None)
@given(a=VALUES, b=VALUES)
def test_ks_equals_scipys_statistic_with_nans_left_out(a, b):
    a, b = np.array(a, dtype=float), np.array(b, dtype=float)
    fa, fb = a[~np.isnan(a)], b[~np.isnan(b)]
    got = ks_statistic(a, b)
    if not len(fa) or not len(fb):
        assert np.isnan(got)
    else:
        assert abs(got - ks_2samp(fa, fb, method="asymp").statistic) < 1e-12


def test_one_reference_serves_many_periods():
    rng = np.random.default_rng(7)
    reference = rng.normal(size=5000)
    periods = [rng.normal(shift, size=800) for shift in (0.0, 0.1, 1.0)]
    monitor = Reference(reference)
    got = [monitor.ks(p) for p in periods]
    assert got == [ks_statistic(reference, p) for p in periods]
    assert got[0] < got[1] < got[2], "a larger shift is a larger gap"


def test_identical_and_disjoint_samples():
    values = np.arange(10.0)
    assert ks_statistic(values, values) == 0.0
    assert ks_statistic(values, values + 100) == 1.0
