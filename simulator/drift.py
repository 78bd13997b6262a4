"""Drift monitors: how far a feature's distribution moved from a reference window.

Per-feature drift dashboards alert on the Kolmogorov-Smirnov statistic, the largest gap
between two empirical distribution functions. A monitor compares every period with the same
reference window, so :class:`Reference` sorts the reference once; each comparison then costs
a sort of the period's own values and two binary searches per distinct value, where
``scipy.stats.ks_2samp`` sorts both samples again and computes a p-value every time. The
statistic is the same as scipy's (``tests/test_drift.py``); there is no p-value, because at
these sample sizes every difference is "significant" and monitors alert on the size of the gap.

Missing values (NaN) are left out on both sides: availability is monitored separately.
"""

from __future__ import annotations

import numpy as np


def _finite_sorted(values) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    return np.sort(values[~np.isnan(values)])


class Reference:
    """A reference sample, sorted once, to compare many periods against."""

    def __init__(self, values):
        self.sorted = _finite_sorted(values)

    def ks(self, values) -> float:
        """The two-sample KS statistic between the reference and ``values`` (NaN if either is empty).

        Between two consecutive distinct values ``u`` of the other sample its
        CDF is flat, so the largest gap is at some ``u`` itself or just below it.
        """
        a, b = self.sorted, _finite_sorted(values)
        if not len(a) or not len(b):
            return float("nan")
        u = np.unique(b)
        cdf_b = np.searchsorted(b, u, side="right") / len(b)
        cdf_b_below = np.concatenate([[0.0], cdf_b[:-1]])
        cdf_a = np.searchsorted(a, u, side="right") / len(a)
        cdf_a_below = np.searchsorted(a, u, side="left") / len(a)
        return float(max(np.abs(cdf_a - cdf_b).max(), np.abs(cdf_a_below - cdf_b_below).max()))


def ks_statistic(a, b) -> float:
    """The two-sample KS statistic of ``a`` and ``b``, NaNs left out (``ks_2samp(a, b).statistic``)."""
    return Reference(a).ks(b)
