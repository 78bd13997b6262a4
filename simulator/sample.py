"""The evaluation sample: every purchase labelled fraud and a fixed share of the others.

Where the top 1% of scores begins is decided by the few thousand highest-scoring purchases,
yet scoring all of a production window's millions of legitimate ones was most of a
lesson's time. An evaluation table therefore keeps

* every row labelled positive -- a chargeback, as the table's label knows it: eventual in
  production, reported by extraction offline (recall is an exact count),
* and a ``rate`` share of the other rows, each weighing ``1 / rate``.

Membership is a hash of ``(seed, txn_id)``, not a random draw: the same purchase is in
or out for every variant, lesson and table, so two models are always compared on the same
rows, and one seed gives the same sample every time. Every metric in :mod:`simulator.evaluate`
reads the ``weight`` column: counts, rates, ROC AUC, PR AUC and the alert threshold (a
weighted quantile) estimate what the full table gives; ``tests/test_sample.py`` measures how
closely on full worlds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WEIGHT = "weight"
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class EvaluationSample:
    """Which rows an evaluation table keeps: the positives and a ``rate`` share of the others
    (1: all), chosen by the hash of ``(seed, txn_id)``."""

    rate: float = 0.1
    seed: int = 0

    def __post_init__(self):
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 < self.rate <= 1:
            raise ValueError(f"rate: {self.rate!r} is not allowed; expected a number in (0, 1]")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: {self.seed!r} is not allowed; expected an integer >= 0")

    def weights(self, txn_id: np.ndarray, label: np.ndarray) -> np.ndarray:
        """Each row's weight: 1 where ``label``, else ``1 / rate`` if sampled and 0 if not."""
        label = np.asarray(label, bool)
        if self.rate == 1:
            return np.ones(len(label))
        sampled = uniform_hash(np.asarray(txn_id), self.seed) < self.rate
        return np.where(label, 1.0, np.where(sampled, 1.0 / self.rate, 0.0))

    def keep(self, txn_id: np.ndarray, label: np.ndarray) -> tuple[slice | np.ndarray, np.ndarray]:
        """Which rows are in the sample (a mask, or ``slice(None)`` for all) and their weights."""
        w = self.weights(txn_id, label)
        kept = w > 0
        return (slice(None), w) if kept.all() else (kept, w[kept])


FULL = EvaluationSample(1.0)
# A tenth of the ordinary negatives: metrics within about 0.01 of the full table's (measured
# in tests/test_sample.py) at a tenth of the scoring.
EVALUATION = EvaluationSample(0.1)


def uniform_hash(txn_id: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per id, fixed by ``(seed, id)`` (splitmix64's finaliser)."""
    with np.errstate(over="ignore"):
        z = txn_id.astype(np.uint64) + np.uint64(seed) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) / float(2 ** 53)
