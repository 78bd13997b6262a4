"""Default signalling in a training table: a value that stands for "unknown" and carries a label rate.

Lesson 2 (``notebooks/02_default_signalling.ipynb``): an online feature filled with 0 when absent
means "new user, low risk" in training; when the service times out in production, active accounts
get that 0 too. One check, ``sentinel``, per numeric feature and per bucket:

* the buckets: each value declared in the spec's ``defaults``; found automatically, 0 in a
  continuous column (a measured amount or average is rarely exactly 0; a count's 0 is a real 0 and
  is not suspected unless declared), a negative code (-1, -9, -99, ...) in a column otherwise
  non-negative, a 9-code (99, 999, ...) standing far above the rest, an exact mean or median that
  holds a spike of rows (mean or median imputation); and the null bucket.
* the label rate in the bucket against the rest of the column, with a 95% interval;
* whether the bucket is a proxy for tenure (rows that are the entity's first in the table) or for
  a segment (the segment mix of the bucket against the rest);
* among rows whose entity was seen in the previous 24 hours (so the value *should* be known), the
  bucket's share by hour of the decision: a service that times out at the peak makes it come and go.

A non-null default is ambiguous: the model cannot tell "unknown" from a real value, so a bucket that
carries a label rate of its own, or that comes and goes with the hour, is a finding. A null is
explicit: its bucket is reported, never above info.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .findings import Finding
from .spec import Table
from .stats import rate_ratio, wilson

FAMILY = "default_signalling"
# A bucket under 0.1% of rows (or 30 rows) is too small to train a signal into.
MIN_SHARE, MIN_ROWS = 0.001, 30
# A default whose rows are at most half (or at least twice) as often positive as the rest, with a
# 95% interval that excludes 1, is a signal a model will learn. The lessons' zero-filled average
# amount sits at 0.06 times the rest's rate in the naive table.
RATIO_HIGH = 2.0
# Among rows with recent history, a default from a timing-out service peaks at some hours: the
# lessons' outages put the peak hour at over 20 times the median hour's share. The peak counts
# when its hour holds MIN_ROWS such rows and its share's 95% lower bound is PEAK_HIGH x the median.
PEAK_HIGH, MIN_HISTORY_SHARE = 3.0, 0.005
# A column is continuous when most of its values are not whole numbers, or it has many levels.
CONTINUOUS_FRACTIONAL, CONTINUOUS_LEVELS = 0.5, 500
# An exact mean or median holding this share of rows is an imputed value.
IMPUTED_SHARE = 0.01
NEGATIVE_CODES = (-1.0, -9.0, -99.0, -999.0, -9999.0)
NINE_CODES = (99.0, 999.0, 9999.0, 99999.0, 999999.0)
HISTORY = pd.Timedelta(hours=24)
FIX = ("keep unknown values missing (NaN) with an indicator of why (no history, unavailable), train on features "
       "as production served them, and keep a degraded-mode model for outages")


def checks(table: Table) -> list[Finding]:
    context = _Context(table)
    found = []
    for f in table.features:
        values = table.frame[f.name]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        values = values.to_numpy(dtype=float, na_value=np.nan)
        for name, bucket, declared in _buckets(values, f.defaults):
            if declared or (bucket.sum() >= MIN_ROWS and bucket.mean() >= MIN_SHARE):
                found.append(context.finding(f.name, name, bucket, ~np.isnan(values) & ~bucket, explicit=name == "null"))
    return found


def _continuous(known: np.ndarray) -> bool:
    nonzero = known[known != 0]
    return bool(nonzero.size) and (np.mean(nonzero % 1 != 0) >= CONTINUOUS_FRACTIONAL
                                   or np.unique(nonzero).size >= CONTINUOUS_LEVELS)


def _buckets(values: np.ndarray, declared: tuple[float, ...]):
    """(name, rows, declared) for each candidate default of one column, and its null bucket."""
    missing = np.isnan(values)
    known = values[~missing]
    if missing.any():
        yield "null", missing, False
    if not known.size:
        return
    suspects = {float(d): True for d in declared}
    continuous = _continuous(known)
    if continuous:
        suspects.setdefault(0.0, False)
        for centre in (float(np.mean(known)), float(np.median(known))):
            if np.mean(known == centre) >= IMPUTED_SHARE:
                suspects.setdefault(centre, False)
    for code in NEGATIVE_CODES:
        if known[known != code].min(initial=np.inf) >= 0:
            suspects.setdefault(code, False)
    top = known.max()
    below = known[known != top]
    if top in NINE_CODES and below.size and np.quantile(below, 0.995) < top / 2:
        suspects.setdefault(float(top), False)
    for value, is_declared in suspects.items():
        yield f"= {value:g}", values == value, is_declared


class _Context:
    """What every bucket of the table is compared with: the entity's history, segments, hours."""

    def __init__(self, table: Table):
        self.table = table
        self.hour = table.decision_time.dt.hour.to_numpy()
        self.first = self.recent = None
        if table.spec.entity:
            entity = pd.factorize(table.frame[table.spec.entity])[0]  # -1: no entity, so no history
            order = np.lexsort((table.decision_time.to_numpy(), entity))
            entity, time = entity[order], table.decision_time.to_numpy()[order]
            same = np.r_[False, (entity[1:] == entity[:-1]) & (entity[1:] >= 0)]
            gap = np.r_[np.timedelta64("NaT"), time[1:] - time[:-1]]
            self.first, self.recent = np.empty(len(order), bool), np.empty(len(order), bool)
            self.first[order] = ~same
            self.recent[order] = same & (gap <= HISTORY.to_timedelta64())

    def finding(self, feature: str, name: str, bucket: np.ndarray, rest: np.ndarray, *, explicit: bool) -> Finding:
        label = self.table.label
        n, pos = int(bucket.sum()), int(label[bucket].sum())
        n_rest, pos_rest = int(rest.sum()), int(label[rest].sum())
        ratio, low, high = rate_ratio(pos, n, pos_rest, n_rest) if n and n_rest else (np.nan,) * 3
        signal = (low > 1 or high < 1) and (ratio >= RATIO_HIGH or ratio <= 1 / RATIO_HIGH)
        rows = [{"part": "label rate", "key": k, "rows": m, "positives": p, "rate": p / m if m else np.nan}
                for k, m, p in ((f"bucket {name}", n, pos), ("rest", n_rest, pos_rest))]
        notes = [f"`{feature}` {name} holds {n / len(label):.1%} of rows, " + (
            f"positive {ratio:.2f}x as often as the rest (95% CI {low:.2f}-{high:.2f})" if np.isfinite(ratio)
            else "with no positive label in it or the rest to compare")]
        timing_out = False
        if self.first is not None:
            first_share = self.first[bucket].mean() if n else np.nan
            rows.append({"part": "entity's first row", "key": f"bucket {name}", "rows": n, "share": first_share})
            rows.append({"part": "entity's first row", "key": "all rows", "rows": len(label), "share": self.first.mean()})
            if first_share > 2 * self.first.mean():
                notes.append(f"a proxy for tenure: {first_share:.0%} are the entity's first row (all rows "
                             f"{self.first.mean():.0%})")
            hours = self.hour[self.recent]
            rows_by_hour = np.bincount(hours, minlength=24)
            in_bucket = np.bincount(hours, weights=bucket[self.recent], minlength=24)
            seen = rows_by_hour > 0
            share = in_bucket[seen] / rows_by_hour[seen]
            rows += [{"part": "share by hour, entity seen in the last 24 h", "key": str(h), "rows": int(m), "share": x}
                     for h, m, x in zip(np.flatnonzero(seen), rows_by_hour[seen], share)]
            if share.size and bucket[self.recent].mean() >= MIN_HISTORY_SHARE:
                top = int(share.argmax())
                peak_low, _ = wilson(in_bucket[seen][top], rows_by_hour[seen][top])
                median = max(float(np.median(share)), 1 / self.recent.sum())
                peak = float(share[top] / median)
                timing_out = bool(in_bucket[seen][top] >= MIN_ROWS and peak_low >= PEAK_HIGH * median)
                if timing_out:
                    hour = int(np.flatnonzero(seen)[top])
                    notes.append(f"among entities seen in the last 24 h it comes and goes with the hour (peak "
                                 f"{share[top]:.1%} at {hour}:00, {peak:.0f}x the median hour): a service timing out")
        if n >= MIN_ROWS:
            notes += self._segments(bucket)
        severity = "high" if signal or timing_out else "medium" if (low > 1 or high < 1) else "info"
        if explicit:
            severity = "info"
            notes.append("explicit (null): the model can tell it apart; make production serve it the same way")
        return Finding("sentinel", FAMILY, f"{feature} {name}", severity, float(ratio),
                       f"high: rate ratio <= {1 / RATIO_HIGH:g} or >= {RATIO_HIGH:g} (95% CI excluding 1), or a "
                       f"peak hour >= {PEAK_HIGH:g}x the median among entities with history (its 95% lower bound, "
                       f">= {MIN_ROWS} rows); medium: CI excluding 1",
                       "; ".join(notes), FIX, pd.DataFrame(rows))

    def _segments(self, bucket: np.ndarray) -> list[str]:
        notes = []
        for segment in self.table.spec.segments:
            column = self.table.frame[segment]
            inside = column[bucket].value_counts(normalize=True)
            outside = column[~bucket].value_counts(normalize=True)
            distance = 0.5 * inside.sub(outside, fill_value=0).abs().sum()
            if distance >= 0.2:
                top = inside.sub(outside, fill_value=0).idxmax()
                notes.append(f"a proxy for {segment}: its mix differs from the rest's by {distance:.0%} "
                             f"(total variation), most of all in {top!r}")
        return notes
