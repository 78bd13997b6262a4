"""Metrics where a fraud team looks: the top of the ranking, offline and in production.

Recall and precision are measured at a fixed *alert rate*: the share of
purchases reviewers can look at (the top 1% of scores by default). A scored
frame may carry its own alert decisions in a ``flagged`` column (an alert
policy other than one global threshold); metrics then use those.

A scored frame may be a weighted sample of the purchases (a ``weight`` column:
how many purchases each row stands for; see :mod:`simulator.sample`). Every
count, rate, ROC AUC, PR AUC and alert threshold here is then weighted -- the
threshold is a weighted quantile -- so it estimates the full table's value.
Without weights every row counts once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from .sample import WEIGHT

ALERT_RATE = 0.01
FLAGGED = "flagged"


def _check_rate(alert_rate: float) -> None:
    if not 0 < alert_rate < 1:
        raise ValueError(f"alert_rate: {alert_rate!r} is not allowed; expected a number in (0, 1)")


def threshold_at_alert_rate(score: np.ndarray, alert_rate: float = ALERT_RATE, weight=None) -> float:
    """The score at and above which the top ``alert_rate`` share of purchases is flagged.

    Unweighted: the ``ceil(alert_rate * n)``-th highest score. Weighted: the
    highest score at which the flagged rows' weight reaches ``alert_rate`` of
    the total weight (the same rule, each row counting ``weight`` times).
    """
    _check_rate(alert_rate)
    score = np.asarray(score, float)
    if weight is None:
        k = max(1, int(np.ceil(alert_rate * len(score))))
        return float(np.partition(score, len(score) - k)[len(score) - k])
    order = np.argsort(-score, kind="stable")
    reached = np.cumsum(np.asarray(weight, float)[order])
    j = min(int(np.searchsorted(reached, alert_rate * reached[-1], side="left")), len(score) - 1)
    return float(score[order[j]])


def weights_of(frame: pd.DataFrame):
    """The frame's ``weight`` column as an array, or ``None`` when every row counts once."""
    return frame[WEIGHT].to_numpy(dtype=float) if WEIGHT in frame.columns else None


def alerts(frame: pd.DataFrame, *, score: str = "score", alert_rate: float = ALERT_RATE) -> np.ndarray:
    """Which rows of a scored frame raise an alert: its ``flagged`` column, else the top ``alert_rate``."""
    if FLAGGED in frame.columns:
        return frame[FLAGGED].to_numpy(dtype=bool)
    values = frame[score].to_numpy()
    return values >= threshold_at_alert_rate(values, alert_rate, weights_of(frame))


def metrics(y, score, *, weight=None, alert_rate: float = ALERT_RATE, threshold: float | None = None,
            flagged=None) -> dict:
    """ROC AUC, PR AUC (average precision), recall and precision at the alert rate.

    Flagged purchases are ``flagged`` if given (decided elsewhere), else those
    scoring at or above ``threshold`` if given, else the top ``alert_rate``.
    ``weight``: how many purchases each row stands for (``n`` and ``frauds``
    are then weighted counts, rounded).
    """
    y = np.asarray(y, bool)
    score = np.asarray(score, float)
    w = np.ones(len(y)) if weight is None else np.asarray(weight, float)
    if flagged is None:
        thr = threshold_at_alert_rate(score, alert_rate, weight) if threshold is None else threshold
        flagged = score >= thr
    flagged = np.asarray(flagged, bool)
    both = y.any() and not y.all()
    n, positives, alerted = w.sum(), w[y].sum(), w[flagged].sum()
    caught = w[flagged & y].sum()
    return {
        "n": int(round(n)), "frauds": int(round(positives)), "prevalence": positives / n if len(y) else np.nan,
        "roc_auc": roc_auc_score(y, score, sample_weight=weight) if both else np.nan,
        "pr_auc": average_precision_score(y, score, sample_weight=weight) if both else np.nan,
        "recall_at_alert": caught / positives if y.any() else np.nan,
        "precision_at_alert": caught / alerted if flagged.any() else np.nan,
        "alert_rate": alerted / n if len(y) else np.nan,
    }


def frame_metrics(frame: pd.DataFrame, *, label: str = "label", score: str = "score",
                  alert_rate: float = ALERT_RATE, threshold: float | None = None) -> dict:
    """:func:`metrics` of a scored frame, with its ``weight`` and ``flagged`` columns if it has them."""
    flagged = frame[FLAGGED].to_numpy(dtype=bool) if FLAGGED in frame.columns and threshold is None else None
    return metrics(frame[label].to_numpy(), frame[score].to_numpy(), weight=weights_of(frame),
                   alert_rate=alert_rate, threshold=threshold, flagged=flagged)


def metrics_by(frame: pd.DataFrame, by, *, label: str = "label", score: str = "score",
               alert_rate: float = ALERT_RATE, per_group_budget: bool = False) -> pd.DataFrame:
    """:func:`metrics` per group of ``by`` as a tidy table.

    ``per_group_budget=False``: the frame's alert decisions -- its ``flagged``
    column, or one threshold for the whole frame (how recall on a segment is
    measured when reviewers see one queue). ``True``: each group flags its
    own top ``alert_rate`` (a fixed weekly review budget).
    """
    decided = FLAGGED in frame.columns and not per_group_budget
    thr = None if per_group_budget or decided else threshold_at_alert_rate(
        frame[score].to_numpy(), alert_rate, weights_of(frame))
    if per_group_budget and FLAGGED in frame.columns:
        frame = frame.drop(columns=FLAGGED)
    names = by if isinstance(by, list) else [by]
    rows = []
    for key, g in frame.groupby(by, observed=True, sort=True):
        keys = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(names, keys)),
                     **frame_metrics(g, label=label, score=score, alert_rate=alert_rate, threshold=thr)})
    return pd.DataFrame(rows)


def weighted_mean(frame: pd.DataFrame, column: str) -> float:
    """The mean of ``column`` over the purchases the frame stands for (weighted by ``weight``)."""
    return float(np.average(frame[column].to_numpy(dtype=float), weights=weights_of(frame)))


def weighted_means(frame: pd.DataFrame, by, columns: list[str]) -> pd.DataFrame:
    """Per group of ``by`` (indexed by it): ``rows`` (weighted) and the weighted mean of each of
    ``columns``, which must have no missing values (a NaN would count as a row but not a value)."""
    names = [by] if isinstance(by, str) else list(by)
    missing = [c for c in columns if frame[c].isna().any()]
    if missing:
        raise ValueError(f"columns: {missing} have missing values; weighted means need complete columns")
    w = weights_of(frame)
    w = np.ones(len(frame)) if w is None else w
    parts = pd.DataFrame({"rows": w, **{c: frame[c].to_numpy(dtype=float) * w for c in columns},
                          **{b: frame[b].array for b in names}})
    sums = parts.groupby(names, observed=True, sort=True)[["rows", *columns]].sum()
    return sums[["rows"]].join(sums[columns].div(sums["rows"], axis=0))


def checkpoint_table(rows: list[tuple[str, float, str, float]]) -> pd.DataFrame:
    """A lesson's measured signature: ``(checkpoint, value, comparison, threshold)`` -> with ``holds``.

    ``comparison`` is ``">="`` or ``"<="``; a NaN value never holds.
    """
    frame = pd.DataFrame(rows, columns=["checkpoint", "value", "comparison", "threshold"])
    bad = ~frame["comparison"].isin([">=", "<="])
    if bad.any():
        raise ValueError(f"comparison: {frame.loc[bad, 'comparison'].tolist()} not in ['>=', '<=']")
    ge = frame["value"] >= frame["threshold"]
    le = frame["value"] <= frame["threshold"]
    return frame.assign(holds=ge.where(frame["comparison"] == ">=", le))
