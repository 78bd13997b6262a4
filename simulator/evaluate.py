"""Metrics where a fraud team looks: the top of the ranking, offline and in production.

Recall and precision are measured at a fixed *alert rate*: the share of
purchases reviewers can look at (the top 1% of scores by default). A scored
frame may carry its own alert decisions in a ``flagged`` column (an alert
policy other than one global threshold); metrics then use those.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

ALERT_RATE = 0.01
FLAGGED = "flagged"


def threshold_at_alert_rate(score: np.ndarray, alert_rate: float = ALERT_RATE) -> float:
    """The score above which the top ``alert_rate`` share of purchases is flagged."""
    if not 0 < alert_rate < 1:
        raise ValueError(f"alert_rate: {alert_rate!r} is not allowed; expected a number in (0, 1)")
    k = max(1, int(np.ceil(alert_rate * len(score))))
    return float(np.partition(np.asarray(score), len(score) - k)[len(score) - k])


def alerts(frame: pd.DataFrame, *, score: str = "score", alert_rate: float = ALERT_RATE) -> np.ndarray:
    """Which rows of a scored frame raise an alert: its ``flagged`` column, else the top ``alert_rate``."""
    if FLAGGED in frame.columns:
        return frame[FLAGGED].to_numpy(dtype=bool)
    values = frame[score].to_numpy()
    return values >= threshold_at_alert_rate(values, alert_rate)


def metrics(y, score, *, alert_rate: float = ALERT_RATE, threshold: float | None = None,
            flagged=None) -> dict:
    """ROC AUC, PR AUC (average precision), recall and precision at the alert rate.

    Flagged purchases are ``flagged`` if given (decided elsewhere), else those
    scoring at or above ``threshold`` if given, else the top ``alert_rate``.
    """
    y = np.asarray(y, bool)
    score = np.asarray(score, float)
    if flagged is None:
        thr = threshold_at_alert_rate(score, alert_rate) if threshold is None else threshold
        flagged = score >= thr
    flagged = np.asarray(flagged, bool)
    both = y.any() and not y.all()
    return {
        "n": len(y), "frauds": int(y.sum()), "prevalence": float(y.mean()) if len(y) else np.nan,
        "roc_auc": roc_auc_score(y, score) if both else np.nan,
        "pr_auc": average_precision_score(y, score) if both else np.nan,
        "recall_at_alert": (flagged & y).sum() / y.sum() if y.any() else np.nan,
        "precision_at_alert": (flagged & y).sum() / flagged.sum() if flagged.any() else np.nan,
        "alert_rate": float(flagged.mean()) if len(y) else np.nan,
    }


def metrics_by(frame: pd.DataFrame, by, *, label: str = "label", score: str = "score",
               alert_rate: float = ALERT_RATE, per_group_budget: bool = False) -> pd.DataFrame:
    """:func:`metrics` per group of ``by`` as a tidy table.

    ``per_group_budget=False``: the frame's alert decisions -- its ``flagged``
    column, or one threshold for the whole frame (how recall on a segment is
    measured when reviewers see one queue). ``True``: each group flags its
    own top ``alert_rate`` (a fixed weekly review budget).
    """
    decided = FLAGGED in frame.columns and not per_group_budget
    thr = None if per_group_budget or decided else threshold_at_alert_rate(frame[score].to_numpy(), alert_rate)
    rows = []
    for key, g in frame.groupby(by, observed=True, sort=True):
        m = metrics(g[label].to_numpy(), g[score].to_numpy(), alert_rate=alert_rate, threshold=thr,
                    flagged=g[FLAGGED].to_numpy() if decided else None)
        keys = key if isinstance(key, tuple) else (key,)
        names = by if isinstance(by, list) else [by]
        rows.append({**dict(zip(names, keys)), **m})
    return pd.DataFrame(rows)


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
