"""The statistics the audit's checks share, vectorised: rate intervals and ratios, stratified odds
ratios and the population stability index."""

from __future__ import annotations

import numpy as np

Z95 = 1.959963984540054


def wilson(positives, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a rate ``positives / n`` (elementwise; NaN where ``n == 0``)."""
    positives, n = np.asarray(positives, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = positives / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def rate_ratio(pos_a, n_a, pos_b, n_b, z: float = Z95) -> tuple[float, float, float]:
    """The ratio of two rates ``(pos_a/n_a) / (pos_b/n_b)`` with a 95% interval (log method). With
    an empty cell, half a positive is added to each side and one row to each size (Haldane); with
    no positive on either side there is no ratio to estimate: NaN."""
    pos_a, pos_b, n_a, n_b = float(pos_a), float(pos_b), float(n_a), float(n_b)
    if (pos_a == 0 and pos_b == 0) or not n_a or not n_b:
        return float("nan"), float("nan"), float("nan")
    if min(pos_a, pos_b) == 0:
        pos_a, pos_b, n_a, n_b = pos_a + 0.5, pos_b + 0.5, n_a + 1, n_b + 1
    ratio = (pos_a / n_a) / (pos_b / n_b)
    se = np.sqrt(max(1 / pos_a - 1 / n_a + 1 / pos_b - 1 / n_b, 0.0))
    return ratio, ratio * np.exp(-z * se), ratio * np.exp(z * se)


def odds_ratios_by_level(level: np.ndarray, n_levels: int, label: np.ndarray, strata: np.ndarray) -> np.ndarray:
    """Each level's Mantel-Haenszel odds ratio of the label against the rest within ``strata``, and
    the Robins-Breslow-Greenland 95% interval (rows: ratio, low, high), every level from one count
    of the cells. It answers: at the same values (a stratum), is the level riskier? NaN for a level
    no stratum holds together with the rest."""
    cells = np.bincount((strata * n_levels + level) * 2 + label, minlength=(strata.max() + 1) * n_levels * 2)
    cells = cells.reshape(-1, n_levels, 2).astype(float)
    a, b = cells[..., 1], cells[..., 0]
    c, d = a.sum(1, keepdims=True) - a, b.sum(1, keepdims=True) - b
    n = a + b + c + d
    with np.errstate(invalid="ignore", divide="ignore"):
        r, s, p, q = a * d / n, b * c / n, (a + d) / n, (b + c) / n
        big_r, big_s = np.nansum(r, 0), np.nansum(s, 0)
        ratio = np.where((big_r > 0) & (big_s > 0), big_r / big_s, np.nan)
        se = np.sqrt(np.nansum(p * r, 0) / (2 * big_r ** 2) + np.nansum(p * s + q * r, 0) / (2 * big_r * big_s)
                     + np.nansum(q * s, 0) / (2 * big_s ** 2))
    return np.array([ratio, ratio * np.exp(-Z95 * se), ratio * np.exp(Z95 * se)])


PSI_FLOOR = 1e-4  # an empty bin's share in the PSI


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """The population stability index of two periods' shares of the same bins."""
    p, q = np.maximum(reference, PSI_FLOOR), np.maximum(current, PSI_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))
