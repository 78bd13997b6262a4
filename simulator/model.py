"""The fraud model every lesson trains: gradient-boosted trees on a model table.

Negatives are down-sampled for speed (all frauds are kept); scores are mapped
back to the full data's scale with the sampling rate (a prior correction), so
they can be read as probabilities. Deterministic for a given seed.

Experiments fit several models; :func:`in_background` runs their fitting
(and scoring) :data:`FIT_THREADS` at a time in threads (the trees are grown without the
GIL), each on a single OpenMP thread, so every model is the one :func:`fit`
gives alone, however many run at once -- and a laptop without
``OMP_NUM_THREADS=1`` does not oversubscribe its cores.

A *learner* is what turns a training table into a :class:`Model`:
``learner(table, seed=...)``. :func:`fit` is the lessons' learner;
:func:`simulator.estimators.as_learner` makes one of any scikit-learn classifier.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import ThreadpoolController

from .engines import LOCAL_THREADS
from .pipelines import ModelTable

FIT_THREADS = LOCAL_THREADS



def as_given(X: pd.DataFrame) -> pd.DataFrame:
    """The feature frame itself, for classifiers that take a DataFrame (pipelines, encoders)."""
    return X


@dataclass(frozen=True)
class Model:
    """A fitted classifier, the feature columns (in order) it expects and how they reach it.

    ``encode`` turns ``frame[features]`` into the classifier's input;
    ``negative_rate`` is the share of negatives it was fitted on (1: all), so
    its probabilities are mapped back to the full data's scale.
    """

    classifier: Any  # fitted, with predict_proba and classes_
    features: list[str]
    negative_rate: float = 1.0
    encode: Callable[[pd.DataFrame], Any] = as_given

    def score(self, table: ModelTable | pd.DataFrame) -> np.ndarray:
        """P(fraud) for every row of ``table``."""
        frame = table.frame if isinstance(table, ModelTable) else table
        missing = [f for f in self.features if f not in frame.columns]
        if missing:
            raise KeyError(f"table: lacks the model's feature columns {missing}")
        proba = self.classifier.predict_proba(self.encode(frame[self.features]))
        q = np.asarray(proba, dtype=float)[:, list(self.classifier.classes_).index(True)]
        if self.negative_rate == 1:
            return q
        return self.negative_rate * q / (self.negative_rate * q + 1 - q)


Learner = Callable[..., Model]  # learner(table, seed=...) -> a Model fitted on the table


def design_matrix(X: pd.DataFrame) -> np.ndarray:
    """X as a float array, categories as their codes (NaN for a missing category).

    Codes come from the world's fixed category lists, so they mean the same in
    every table; a category never seen in training is handled as missing.
    """
    out = np.empty(X.shape, dtype=float, order="F")  # column-major: HGB predicts ~3x faster on it
    for j, c in enumerate(X.columns):
        col = X[c]
        out[:, j] = col.cat.codes.replace(-1, np.nan) if isinstance(col.dtype, pd.CategoricalDtype) else col
    return out


def fit(table: ModelTable, *, negative_rate: float = 0.1, seed: int = 0, max_iter: int = 60) -> Model:
    """Fit on ``table``, keeping every positive and a ``negative_rate`` sample of negatives."""
    if not 0 < negative_rate <= 1:
        raise ValueError(f"negative_rate: {negative_rate!r} is not allowed; expected a number in (0, 1]")
    y = table.y
    if y.sum() == 0 or y.all():
        raise ValueError("table: labels are all one class; widen the window or shorten the maturity cutoff")
    rng = np.random.default_rng(seed)
    keep = y | (rng.random(len(y)) < negative_rate)
    X = table.X[keep]
    categorical = [isinstance(X[c].dtype, pd.CategoricalDtype) for c in X.columns]
    clf = HistGradientBoostingClassifier(max_iter=max_iter, learning_rate=0.15, max_leaf_nodes=15,
                                         min_samples_leaf=40, l2_regularization=1.0, early_stopping=False,
                                         categorical_features=categorical or None, random_state=seed)
    clf.fit(design_matrix(X), y[keep])
    return Model(clf, list(table.features), negative_rate, design_matrix)


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


_THREADPOOLS: ThreadpoolController | None = None  # found once: looking up the loaded libraries takes ~10 ms


def _single_threaded(work: Callable[..., Any], *args) -> Any:
    global _THREADPOOLS
    with _pool_lock:
        if _THREADPOOLS is None:
            _THREADPOOLS = ThreadpoolController()
    with _THREADPOOLS.limit(limits=1, user_api="openmp"):
        return work(*args)


def in_background(work: Callable[..., Any], *args) -> Future:
    """Start ``work(*args)`` in the fitting pool, on one OpenMP thread, and return its future.
    With ``FIT_THREADS`` at 1 it runs here and now (its exception raised at ``.result()``)."""
    global _pool
    if FIT_THREADS <= 1:
        done = Future()
        try:
            done.set_result(_single_threaded(work, *args))
        except Exception as exc:  # raised at .result(), as from the pool
            done.set_exception(exc)
        return done
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FIT_THREADS, thread_name_prefix="fraudworld-fit")
    return _pool.submit(_single_threaded, work, *args)


def fitted(table: ModelTable | Callable[[], ModelTable], seed: int, learner: Learner | None = None) -> Model:
    """``learner`` (default :func:`fit`) fitted on ``table``, or on the table a callable builds
    (built here, then dropped)."""
    return (learner or fit)(table() if callable(table) else table, seed=seed)
