"""The point-in-time (as-of) join: what a feature table held at each decision time.

For every decision row and its entity, take the feature row with the latest
``available_at <= decision time`` -- the time the value became *known*, not the
time of the facts behind it. A feature row published at exactly the decision
time counts as known. Rows older than ``max_age`` (decision time minus
``available_at``) do not match. No match gives missing values, never a default.

Ties: feature rows of one entity with the same ``available_at`` are ordered by
``tie_breaker`` (e.g. ``run_at``: the later snapshot wins); rows that tie on
that too are ambiguous and rejected.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _as_ns(frame: pd.DataFrame, column: str, role: str) -> pd.Series:
    if column not in frame.columns:
        raise KeyError(f"{role}: no column {column!r}; columns are {list(frame.columns)}")
    values = frame[column]
    if not pd.api.types.is_datetime64_any_dtype(values) or getattr(values.dt, "tz", None) is not None:
        raise TypeError(f"{role}.{column}: expected time-zone-naive datetimes, got {values.dtype}")
    if values.isna().any():
        raise ValueError(f"{role}.{column}: {int(values.isna().sum())} missing times; every row needs one")
    return values.astype("datetime64[ns]")


def sort_key(values: pd.Series) -> np.ndarray:
    """An array that sorts like ``values`` (numbers and times as they are, others by rank)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.to_numpy().view(np.int64)
    if pd.api.types.is_numeric_dtype(values) and not values.isna().any():
        return values.to_numpy()
    return pd.factorize(values, sort=True)[0]


def asof_join(decisions: pd.DataFrame, features: pd.DataFrame, *, by: str, decision_time: str,
              available_time: str = "available_at", tie_breaker: str | None = None,
              max_age: pd.Timedelta | str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """``decisions`` (same rows, same order, same index) with the as-of feature values appended.

    Parameters
    ----------
    decisions : one row per decision; needs ``by`` and ``decision_time``.
    features : the feature table; needs ``by``, ``available_time`` and ``tie_breaker``.
    max_age : optional; a feature row older than this at the decision time does not match.
    columns : the feature columns to attach (default: all but ``by``). The matched
        row's ``available_time`` is attached too, so callers can audit the join.
    """
    left_t, right_t, wanted = checked_inputs(decisions, features, by, decision_time, available_time, columns)
    features, right_t = known_entities(features, right_t, by)
    order_cols = [available_time] + ([tie_breaker] if tie_breaker else [])
    # Sort by (time, tie_breaker, entity): merge_asof needs time order, and within an
    # entity and time the last row wins; exact duplicates are then adjacent.
    keys = [right_t.to_numpy().view(np.int64) if c == available_time else sort_key(features[c])
            for c in reversed([*order_cols, by])]
    order = np.lexsort(keys)
    sorted_keys = np.stack([k[order] for k in keys])
    dup = (sorted_keys[:, 1:] == sorted_keys[:, :-1]).all(axis=0)
    if dup.any():
        raise duplicates_error(int(dup.sum()), by, order_cols)
    # Join the keys only, then take the matched feature rows once, in the decisions' order.
    left_by, right_by = entity_keys(decisions[by], features[by])
    right = pd.DataFrame({by: right_by[order], "__t": right_t.to_numpy()[order], "__pos": order})
    by_time = np.argsort(left_t.to_numpy(), kind="stable")
    left = pd.DataFrame({by: left_by[by_time], "__t": left_t.to_numpy()[by_time]})
    tolerance = None if max_age is None else pd.Timedelta(max_age)
    matched = pd.merge_asof(left, right, on="__t", by=by, direction="backward", allow_exact_matches=True,
                            tolerance=tolerance)["__pos"].to_numpy(dtype=float, na_value=np.nan)
    position = np.empty(len(decisions))
    position[by_time] = matched
    return attach(decisions, features, np.where(np.isnan(position), -1, position).astype(np.int64), wanted,
                  available_time, right_t)


def known_entities(features: pd.DataFrame, right_t: pd.Series, by: str) -> tuple[pd.DataFrame, pd.Series]:
    """The feature rows whose entity is known, and their times: a row without one matches nothing
    (nor is it a duplicate of another such row)."""
    known = features[by].notna().to_numpy()
    return (features, right_t) if known.all() else (features[known], right_t[known])


def entity_keys(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' entities as arrays of one dtype that a join can match by equality: numbers as they
    are when the features' cast to the decisions' dtype loses nothing; anything else (strings of any
    dtype, objects, categories, numbers of other kinds) as codes over both sides, where equal values
    (1 and 1.0) share a code. The features' entities are known (:func:`known_entities`); a missing
    decision entity is coded -1, which no feature has."""
    numbers = [isinstance(d, np.dtype) and d.kind in "iuf" for d in (left.dtype, right.dtype)]
    if all(numbers) and np.can_cast(right.dtype, left.dtype, "safe") and not left.isna().any():
        left_by = left.to_numpy()
        return left_by, right.to_numpy().astype(left_by.dtype, copy=False)
    codes = pd.factorize(pd.concat([left.astype(object), right.astype(object)], ignore_index=True))[0]
    return codes[:len(left)], codes[len(left):]


def checked_inputs(decisions: pd.DataFrame, features: pd.DataFrame, by: str, decision_time: str,
                   available_time: str, columns: list[str] | None) -> tuple[pd.Series, pd.Series, list[str]]:
    """Both sides' times as ``datetime64[ns]`` and the feature columns to attach, or the error."""
    left_t = _as_ns(decisions, decision_time, "decisions")
    right_t = _as_ns(features, available_time, "features")
    for frame, role in ((decisions, "decisions"), (features, "features")):
        if by not in frame.columns:
            raise KeyError(f"{role}: no column {by!r} to join by")
    wanted = [c for c in (columns or features.columns) if c not in (by, available_time)]
    clash = [c for c in wanted + [available_time] if c in decisions.columns]
    if clash:
        raise ValueError(f"decisions: already has columns {clash}; select other feature columns")
    return left_t, right_t, wanted


def duplicates_error(count: int, by: str, order_cols: list[str]) -> ValueError:
    return ValueError(f"features: {count} rows share ({by}, {', '.join(order_cols)}) with another; "
                      "the as-of join needs one row per entity and time")


def attach(decisions: pd.DataFrame, features: pd.DataFrame, position: np.ndarray, wanted: list[str],
           available_time: str, right_t: pd.Series) -> pd.DataFrame:
    """``decisions`` with feature row ``position[i]`` (``-1``: none, missing values) appended to row ``i``."""
    values = features[wanted].assign(**{available_time: right_t}).reset_index(drop=True)
    values = values.reindex(position)  # -1 is no row: missing values, as merge_asof gives
    values.index = decisions.index
    return pd.concat([decisions, values[[*wanted, available_time]]], axis=1)
