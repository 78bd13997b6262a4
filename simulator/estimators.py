"""Any scikit-learn classifier as the experiments' model: bring your own pipeline to the replay.

:func:`as_learner` turns an estimator (cloned for every fit) or a factory (called
for every fit) into a learner the experiment machinery fits exactly where it
fits the default model -- the same builder's tables, the same time-blocked
cross-validation, the same production replay. The classifier receives
``table.X``: a DataFrame whose categorical columns (cohort, region, channel)
are pandas ``category`` columns and whose absent values are NaN unless the
``missing`` switch filled them, and ``table.y``, the labels known at
extraction. A ``random_state`` left at ``None`` anywhere in it is set to the
experiment's seed, so one seed gives one result.

What the replay needs of it is checked before anything is built: ``fit`` and
``predict_proba``. When fitting fails, the error says what in the table the
classifier could not take (categories, NaN) rather than where deep inside it
gave up.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import pandas as pd
from sklearn.base import clone

from .model import Learner, Model, fit
from .pipelines import ModelTable


class ModelError(ValueError):
    """The classifier handed to an experiment cannot be fitted or cannot score."""


def _name(estimator: Any) -> str:
    return type(estimator).__name__


def _check_interface(estimator: Any) -> None:
    lacking = [m for m in ("fit", "predict_proba") if not callable(getattr(estimator, m, None))]
    if lacking:
        raise ModelError(f"model: {_name(estimator)} has no {' or '.join(lacking)}; the replay needs a classifier "
                         "with fit(X, y) and predict_proba(X) -- it ranks purchases by P(fraud) -- e.g. wrap a "
                         "margin classifier in sklearn.calibration.CalibratedClassifierCV")


def as_learner(model: Any = None) -> Learner:
    """A learner from ``model``: ``None`` (the lessons' model, :func:`simulator.model.fit`), a
    scikit-learn classifier (cloned, so the one given is never fitted) or a factory returning one."""
    if model is None:
        return fit
    if isinstance(model, type) or (callable(model) and not callable(getattr(model, "fit", None))):
        make = partial(_made, model)  # a class or a factory: called for every fit
        _check_interface(make())
    else:
        _check_interface(model)
        make = partial(clone, model)
    return partial(fit_estimator, make)


def _made(factory: Callable[[], Any]) -> Any:
    """A fresh classifier from ``factory`` -- cloned when it can be, so that a factory handing out
    one shared instance never has two fits at once change it."""
    try:
        made = factory()
    except Exception as exc:
        raise ModelError(f"model: calling {getattr(factory, '__name__', factory)!r} to make a classifier failed: "
                         f"{type(exc).__name__}: {exc}; pass an estimator, a class that needs no arguments, or "
                         "a function of no arguments returning one") from exc
    return clone(made) if callable(getattr(made, "get_params", None)) else made


def _seeded(estimator: Any, seed: int) -> Any:
    """``estimator`` with every ``random_state`` left at ``None`` set to ``seed``."""
    if not callable(getattr(estimator, "get_params", None)):
        return estimator
    unset = {k: seed for k, v in estimator.get_params(deep=True).items()
             if k.split("__")[-1] == "random_state" and v is None}
    return estimator.set_params(**unset) if unset else estimator


def _what_it_could_not_take(table: ModelTable) -> str:
    X = table.X
    categorical = [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]
    with_nan = [c for c in X.columns if c not in categorical and X[c].isna().any()]
    hints = []
    if categorical:
        hints.append(f"categorical columns {categorical} (pandas 'category' dtype), which a classifier without "
                     "an encoder cannot take: encode them, e.g. OneHotEncoder in a ColumnTransformer")
    if with_nan:
        hints.append(f"columns {with_nan} with NaN (absent values under missing={table.switches.missing!r}), "
                     "which a classifier that is not NaN-aware cannot take: impute them, e.g. SimpleImputer")
    return "; ".join(hints)


def fit_estimator(make: Callable[[], Any], table: ModelTable, *, seed: int = 0) -> Model:
    """A fresh classifier from ``make`` fitted on ``table`` (every row, labels as known)."""
    estimator = _seeded(make(), seed)
    _check_interface(estimator)
    try:
        estimator.fit(table.X, table.y)
    except Exception as exc:
        hints = _what_it_could_not_take(table)
        raise ModelError(f"model: {_name(estimator)} failed to fit on a training table of {len(table.frame):,} "
                         f"rows and {len(table.features)} features: {type(exc).__name__}: {exc}"
                         + (f". If that is what it could not take, the table has {hints}" if hints else "")) from exc
    classes = list(getattr(estimator, "classes_", []))
    if True not in classes:
        raise ModelError(f"model: {_name(estimator)} was fitted but its classes_ {classes} lack True (fraud); "
                         "the replay needs predict_proba's column for the positive class")
    return Model(estimator, list(table.features))
