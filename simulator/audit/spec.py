"""The audit's spec: which columns of a user's table play which part, read from TOML and checked.

Time semantics, as the spec declares them (any column names):

``decision_time``
    when each row's prediction was made: every feature must have been known by then.
``label``
    the outcome (0/1 or boolean), as the table holds it: positives known by ``extracted_at``.
``label_known_at``
    optional: when each positive label became known (a chargeback's ``reported_at``); null for
    negatives.
``extracted_at``
    optional: when the table was pulled; else the latest time the table holds.
``entity``
    optional: who a row is about (a user, an account), for per-entity history.
``segments``
    optional: columns naming who a row belongs to (a cohort, a region).
``score``
    optional: a model's score for each row.
``features``
    the model's inputs: an array of names, or one table per feature with ``available_at`` (the
    column holding when that value became available) and ``defaults`` (values that may stand
    for "unknown"). Without it, every column not named above and not a time (a date-time column,
    or text holding ISO date-times) is a feature -- the segments are then taken as unseen by the
    model: list the features to say otherwise.
``periods``
    how many time blocks the population-shift checks compare (default 3); or ``reference`` and
    ``current``, each ``[start, end]``, to compare two windows.

:func:`load_spec` and :func:`check_table` raise :class:`SpecError` naming the field and what is
allowed; :func:`check_table` returns the table with its time columns parsed.
"""

from __future__ import annotations

import datetime as dt
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd


class SpecError(ValueError):
    """A spec that is malformed, or that does not fit the table it describes."""


@dataclass(frozen=True)
class FeatureSpec:
    """One model input: its column, where its availability time is, and its declared defaults."""

    name: str
    available_at: str | None = None
    defaults: tuple[float, ...] = ()


@dataclass(frozen=True)
class AuditSpec:
    decision_time: str
    label: str
    label_known_at: str | None = None
    extracted_at: pd.Timestamp | None = None
    entity: str | None = None
    segments: tuple[str, ...] = ()
    score: str | None = None
    features: tuple[FeatureSpec, ...] | None = None  # None: every other non-time column
    ignore: tuple[str, ...] = ()
    periods: int = 3
    reference: tuple[pd.Timestamp, pd.Timestamp] | None = None
    current: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @property
    def roles(self) -> dict[str, str]:
        """Each role column's field name -> column."""
        named = {"decision_time": self.decision_time, "label": self.label, "label_known_at": self.label_known_at,
                 "entity": self.entity, "score": self.score}
        named.update({f"segments[{i}]": s for i, s in enumerate(self.segments)})
        return {k: v for k, v in named.items() if v is not None}


FIELDS = {"decision_time", "label", "label_known_at", "extracted_at", "entity", "segments", "score", "features",
          "ignore", "periods", "reference", "current"}
FEATURE_FIELDS = {"available_at", "defaults"}


def _fail(where: str, value, allowed: str):
    raise SpecError(f"{where}: {value!r} is not allowed; expected {allowed}")


def _unknown(keys, allowed: set[str], where: str) -> None:
    for key in sorted(set(keys) - allowed):
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"{where}{key}: unknown field{hint}; allowed: {', '.join(sorted(allowed))}")


def _column(data: Mapping, key: str, required: bool = False) -> str | None:
    if key not in data:
        if required:
            raise SpecError(f"{key}: missing; the column that holds the {key.replace('_', ' ')}")
        return None
    value = data[key]
    if not isinstance(value, str) or not value:
        _fail(key, value, "a column name (a non-empty string)")
    return value


def _names(data: Mapping, key: str) -> tuple[str, ...]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        _fail(key, value, "an array of column names")
    return tuple(value)


def _timestamp(value, where: str) -> pd.Timestamp:
    if isinstance(value, (dt.datetime, dt.date)) or isinstance(value, str):
        try:
            stamp = pd.Timestamp(value)
        except ValueError:
            stamp = pd.NaT
        if stamp is not pd.NaT and stamp.tzinfo is None:
            return stamp
    _fail(where, value, "a date-time without a time zone, e.g. 2026-04-05T00:00:00")


def _window(data: Mapping, key: str) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    if key not in data:
        return None
    value = data[key]
    if not isinstance(value, list) or len(value) != 2:
        _fail(key, value, "[start, end], two date-times")
    start, end = (_timestamp(v, f"{key}[{i}]") for i, v in enumerate(value))
    if not start < end:
        _fail(key, value, "a start before its end")
    return start, end


def _features(data: Mapping) -> tuple[FeatureSpec, ...] | None:
    if "features" not in data:
        return None
    value = data["features"]
    if isinstance(value, list):
        return tuple(FeatureSpec(name) for name in _names(data, "features"))
    if not isinstance(value, dict) or not value:
        _fail("features", value, "an array of column names, or a table per feature")
    out = []
    for name, options in value.items():
        where = f"features.{name}"
        if not isinstance(options, dict):
            _fail(where, options, "a table with available_at and/or defaults")
        _unknown(options, FEATURE_FIELDS, f"{where}.")
        available = _column(options, "available_at") if "available_at" in options else None
        defaults = options.get("defaults", [])
        if not isinstance(defaults, list) or not all(isinstance(d, (int, float)) and not isinstance(d, bool)
                                                     for d in defaults):
            _fail(f"{where}.defaults", defaults, "an array of numbers, e.g. [0, -1]")
        out.append(FeatureSpec(name, available, tuple(float(d) for d in defaults)))
    return tuple(out)


def spec_from_mapping(data: Mapping[str, Any]) -> AuditSpec:
    """An :class:`AuditSpec` from a parsed TOML document, every field checked."""
    _unknown(data, FIELDS, "")
    periods = data.get("periods", 3)
    if isinstance(periods, bool) or not isinstance(periods, int) or not 2 <= periods <= 24:
        _fail("periods", periods, "a whole number of time blocks from 2 to 24")
    reference, current = _window(data, "reference"), _window(data, "current")
    if (reference is None) != (current is None):
        raise SpecError("reference, current: give both windows, or neither (then the table is cut into periods)")
    extracted_at = data.get("extracted_at")
    return AuditSpec(
        decision_time=_column(data, "decision_time", required=True), label=_column(data, "label", required=True),
        label_known_at=_column(data, "label_known_at"),
        extracted_at=None if extracted_at is None else _timestamp(extracted_at, "extracted_at"),
        entity=_column(data, "entity"), segments=_names(data, "segments"), score=_column(data, "score"),
        features=_features(data), ignore=_names(data, "ignore"), periods=periods, reference=reference,
        current=current)


def load_spec(path: str | Path) -> AuditSpec:
    """The spec in the TOML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"spec: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"spec: {path.name} is not valid TOML: {exc}") from None
    return spec_from_mapping(data)


# --- the spec against a table ---------------------------------------------------------------------

@dataclass(frozen=True)
class Table:
    """A user's table checked against its spec: times parsed to ``datetime64[ns]``, the label as
    booleans, and the features resolved (with their specs)."""

    frame: pd.DataFrame
    spec: AuditSpec
    decision_time: pd.Series
    label: np.ndarray
    extracted_at: pd.Timestamp
    features: tuple[FeatureSpec, ...] = field(default=())


def _require(frame: pd.DataFrame, column: str, where: str) -> None:
    if column not in frame.columns:
        close = difflib.get_close_matches(column, [str(c) for c in frame.columns], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SpecError(f"{where}: column {column!r} is not in the table{hint}; it has {len(frame.columns)} "
                        f"columns: {', '.join(map(str, list(frame.columns)[:20]))}"
                        + (", ..." if len(frame.columns) > 20 else ""))


def parse_times(values: pd.Series, where: str) -> pd.Series:
    """``values`` as ``datetime64[ns]`` wall-clock times; strings are parsed (ISO 8601)."""
    if values.isna().all():  # an empty column (CSV reads it as numbers): no time known on any row
        return pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]", name=values.name)
    if pd.api.types.is_datetime64_any_dtype(values):
        if getattr(values.dtype, "tz", None) is not None:
            raise SpecError(f"{where}: column {values.name!r} has a time zone ({values.dtype.tz}); "
                            "expected wall-clock times on one clock (convert with .dt.tz_localize(None))")
        return values.astype("datetime64[ns]")
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        raise SpecError(f"{where}: column {values.name!r} is {values.dtype}; expected date-times "
                        "(datetime64, or ISO 8601 strings such as 2026-04-05 09:10:00)")
    try:
        parsed = pd.to_datetime(values, errors="coerce", format="ISO8601")
    except ValueError:  # pandas refuses to mix time-zone offsets in one column
        raise SpecError(f"{where}: column {values.name!r} has times in different time zones (offsets); "
                        "expected wall-clock times on one clock") from None
    bad = parsed.isna() & values.notna()
    if bad.any():
        first = values[bad].iloc[0]
        raise SpecError(f"{where}: column {values.name!r} has {int(bad.sum()):,} values that are not date-times, "
                        f"e.g. {first!r}; expected ISO 8601 such as 2026-04-05 09:10:00")
    if getattr(parsed.dtype, "tz", None) is not None:
        raise SpecError(f"{where}: column {values.name!r} has time zones; expected wall-clock times")
    return parsed.astype("datetime64[ns]")


def _labels(values: pd.Series, where: str) -> np.ndarray:
    if values.isna().any():
        raise SpecError(f"{where}: column {values.name!r} has {int(values.isna().sum()):,} missing labels; "
                        "expected 0/1 or true/false on every row")
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(values) and set(np.unique(values.to_numpy())) <= {0, 1}:
        return values.to_numpy() == 1
    seen = list(pd.unique(values))[:5]
    raise SpecError(f"{where}: column {values.name!r} holds {seen}; expected 0/1 or true/false")


def _is_time(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values) or isinstance(values.dtype, pd.PeriodDtype)


def _holds_time_text(values: pd.Series, sample: int = 100) -> bool:
    """Whether a text column holds ISO date-times (as a CSV's time columns do): not a feature."""
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return False
    seen = values.dropna().head(sample)
    if seen.empty or not all(isinstance(v, str) and v[:1].isdigit() for v in seen):
        return False
    try:
        return bool(pd.to_datetime(seen, errors="coerce", format="ISO8601").notna().all())
    except ValueError:  # mixed time zones: times all the same
        return True


def check_table(frame: pd.DataFrame, spec: AuditSpec) -> Table:
    """``frame`` checked against ``spec``: every named column present and of a usable type."""
    if frame.empty:
        raise SpecError("table: it has no rows")
    repeated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if repeated:
        raise SpecError(f"table: columns {repeated} appear more than once; every column name must be unique")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    for where, column in spec.roles.items():
        _require(frame, column, where)
    parsed = {spec.decision_time: parse_times(frame[spec.decision_time], "decision_time")}
    if parsed[spec.decision_time].isna().any():
        raise SpecError(f"decision_time: column {spec.decision_time!r} has missing times; every row needs one")
    if spec.label_known_at:
        parsed[spec.label_known_at] = parse_times(frame[spec.label_known_at], "label_known_at")
    label = _labels(frame[spec.label], "label")
    if spec.score and not pd.api.types.is_numeric_dtype(frame[spec.score]):
        raise SpecError(f"score: column {spec.score!r} is {frame[spec.score].dtype}; expected numbers")
    roles = set(spec.roles.values()) | set(spec.ignore)
    if spec.features is None:
        features = tuple(FeatureSpec(c) for c in frame.columns if c not in roles and not _is_time(frame[c])
                         and not _holds_time_text(frame[c]))
    else:
        features = spec.features
    for f in features:
        where = f"features.{f.name}"
        role = next((field for field, column in spec.roles.items()
                     if column == f.name and field in ("decision_time", "label", "label_known_at", "score")), None)
        if role:  # a segment or the entity may well be an input too
            raise SpecError(f"{where}: column {f.name!r} is the spec's {role}; a feature is a model input")
        _require(frame, f.name, where)
        values = frame[f.name]
        if _is_time(values):
            raise SpecError(f"{where}: column {f.name!r} holds times; a feature is a number, a flag or a category "
                            "(its availability time goes in available_at)")
        if f.defaults and not pd.api.types.is_numeric_dtype(values):
            raise SpecError(f"{where}.defaults: column {f.name!r} is {values.dtype}; defaults need a numeric column")
        if f.available_at:
            _require(frame, f.available_at, f"{where}.available_at")
            parsed[f.available_at] = parse_times(frame[f.available_at], f"{where}.available_at")
    if not features:
        raise SpecError("features: the table has no feature columns besides the ones the spec names")
    frame = frame.assign(**parsed)
    times = [frame[spec.decision_time].max()] + ([frame[spec.label_known_at].max()] if spec.label_known_at else [])
    extracted_at = spec.extracted_at if spec.extracted_at is not None else max(t for t in times if pd.notna(t))
    if frame[spec.decision_time].max() > extracted_at:
        raise SpecError(f"extracted_at: {extracted_at} is before the latest decision_time "
                        f"({frame[spec.decision_time].max()}); a table cannot hold decisions not yet made")
    return Table(frame, spec, frame[spec.decision_time], label, pd.Timestamp(extracted_at), features)
