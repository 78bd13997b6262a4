"""Time travel in a training table: values the decision could not have read, and labels too young.

Three checks (lesson 1, ``notebooks/01_time_travel.ipynb``):

``availability``
    for a feature whose spec names an ``available_at`` column: the share of rows whose value
    became available *after* the row's decision time, how late, and by hour of the decision (a
    nightly job joined by calendar date shows as a ramp: a morning purchase reads a snapshot
    published that night, many hours later).
``calendar_join``
    without an availability column (and with an ``entity``): a feature constant within each
    (entity, calendar day) that changes from one day to the next looks like a daily snapshot. If
    it was joined by calendar date, the day's value holds what happened later that day; giving
    each row the entity's *previous* day's value instead (what was certainly available) then
    makes its predictive power collapse. A snapshot joined as of its availability loses little.
``label_maturity``
    with ``label_known_at``: positives known after ``extracted_at`` (a label from the future);
    the report delay estimated from the table itself (positives among the oldest third of rows,
    whose reports had the most time to arrive); the share of rows younger than its 90th
    percentile (their positives mostly not reported yet), the expected share of eventual
    positives still missing, and a suggested maturity cutoff. Without ``label_known_at``: the
    positive rate of the youngest tenth of rows against the rest.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from .findings import Finding, graded, threshold_text
from .spec import Table
from .stats import rate_ratio

FAMILY = "time_travel"
# availability: any value read before it existed is a leak; above 1% of rows it is the join itself.
LATE_HIGH, LATE_MEDIUM = 0.01, 0.001
# calendar_join: a daily value must be constant within (entity, day) on nearly every multi-row day,
# and change between some consecutive days (a rare count, such as chargebacks, changes on few).
CONSTANT_WITHIN_DAY, MIN_CHANGES, MIN_DAY_PAIRS = 0.99, 20, 200
# Predictive power is |ROC AUC - 0.5| of the value alone. The calendar join's leak on the lessons'
# chargeback count loses about 0.25 of it with the previous day's value; a point-in-time snapshot
# loses about 0.01 to one more day of staleness.
POWER_LOST_HIGH, POWER_LOST_MEDIUM, POWER_KEPT_HIGH = 0.05, 0.02, 0.5
# label_maturity: rows younger than the 90th-percentile report delay have most of their positives
# still unreported; a tenth of the table that young distorts what the model learns.
DELAY_QUANTILE = 0.9
YOUNG_HIGH, YOUNG_MEDIUM = 0.10, 0.02
MIN_POSITIVES = 20
YOUNGEST, TAIL_RATIO_MEDIUM = 0.1, 0.5
FIX_AVAILABILITY = "join each feature as of its available_at <= the decision time (an as-of join), not by calendar date"
FIX_MATURITY = "keep only rows older than the report delay at extraction (a label-maturity cutoff)"


def checks(table: Table) -> list[Finding]:
    found = [availability(table, f.name, f.available_at) for f in table.features if f.available_at]
    numeric = [f.name for f in table.features if not f.available_at and _numeric(table.frame[f.name])]
    if table.spec.entity and numeric:
        days = _Days(table)
        found += [f for f in (calendar_join(table, name, days) for name in numeric) if f is not None]
    return found + label_maturity(table)


def _numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def availability(table: Table, feature: str, available_at: str) -> Finding:
    """The share of rows that read ``feature`` before it was available, by hour of decision."""
    decided, available = table.decision_time, table.frame[available_at]
    has = available.notna().to_numpy()
    if not has.any():
        return Finding("availability", FAMILY, feature, "medium", float("nan"), "every row needs an available_at",
                       f"`{available_at}` is empty: when `{feature}` became available is unknown on every row",
                       f"export when each value of {feature} was published", pd.DataFrame())
    lag_hours = ((available - decided).dt.total_seconds() / 3600).to_numpy()
    late = has & (lag_hours > 0)
    share = late.sum() / max(has.sum(), 1)
    hour = decided.dt.hour.to_numpy()
    evidence = pd.DataFrame({"hour": hour[has], "late": late[has], "lag_hours": np.where(late, lag_hours, np.nan)[has]})
    evidence = evidence.groupby("hour").agg(rows=("late", "size"), share_late=("late", "mean"),
                                            median_hours_early=("lag_hours", "median"))
    typical = np.nanmedian(lag_hours[late]) if late.any() else 0.0
    summary = (f"{share:.1%} of rows read `{feature}` before it was available (median {typical:.1f} h early)"
               if late.any() else f"`{feature}` was available at every decision that read it")
    return Finding("availability", FAMILY, feature, graded(share, LATE_HIGH, LATE_MEDIUM), float(share),
                   threshold_text(LATE_HIGH, LATE_MEDIUM, fmt="{:.1%}"), summary, FIX_AVAILABILITY, evidence,
                   lambda ax, e=evidence, name=feature: _plot_availability(ax, e, name))


def _plot_availability(ax, evidence: pd.DataFrame, feature: str) -> None:
    ax.bar(evidence.index, evidence["share_late"], color="#c44e52", label="share of rows read too early")
    ax.set(xlabel="hour of the decision", ylabel="share read before available", ylim=(0, 1.05),
           title=f"{feature}: read before it existed")
    twin = ax.twinx()
    twin.plot(evidence.index, evidence["median_hours_early"], color="#333333", marker="o", ms=3)
    twin.set_ylabel("median hours early")


class _Days:
    """The table's rows grouped by (entity, calendar day of the decision), computed once: the rows
    in group order, where each group starts, and which groups follow their entity's previous day."""

    def __init__(self, table: Table):
        entity = pd.factorize(table.frame[table.spec.entity])[0]
        day = table.decision_time.to_numpy().astype("datetime64[D]").astype(np.int64)
        self.order = np.lexsort((day, entity))
        entity, day = entity[self.order], day[self.order]
        new = np.r_[True, (entity[1:] != entity[:-1]) | (day[1:] != day[:-1])]
        self.starts = np.flatnonzero(new)
        self.group = np.cumsum(new) - 1  # each sorted row's group
        self.size = np.diff(np.r_[self.starts, len(day)])
        g_entity, g_day = entity[self.starts], day[self.starts]
        self.follows = np.r_[False, (g_entity[1:] == g_entity[:-1]) & (g_day[1:] - g_day[:-1] == 1)]

    def previous_day(self, values: np.ndarray) -> np.ndarray | None:
        """Each row's entity's value on the previous calendar day, if the value is constant within
        every (entity, day) and changes between some consecutive days; ``None`` if it is not such a
        daily value."""
        v = values[self.order]
        low, high = np.fmin.reduceat(v, self.starts), np.fmax.reduceat(v, self.starts)
        constant = (low == high) | np.isnan(high)
        multi = self.size > 1
        if multi.sum() < MIN_DAY_PAIRS or constant[multi].mean() < CONSTANT_WITHIN_DAY:
            return None
        previous = np.where(self.follows, np.r_[np.nan, low[:-1]], np.nan)
        pairs = self.follows & ~np.isnan(low) & ~np.isnan(previous)
        if pairs.sum() < MIN_DAY_PAIRS or (low[pairs] != previous[pairs]).sum() < MIN_CHANGES:
            return None
        out = np.empty(len(values))
        out[self.order] = previous[self.group]
        return out


def calendar_join(table: Table, feature: str, days: _Days) -> Finding | None:
    """How much of a daily value's predictive power survives giving each row the previous day's value."""
    same = table.frame[feature].to_numpy(dtype=float, na_value=np.nan)
    previous = days.previous_day(same)
    if previous is None:
        return None
    rows = ~np.isnan(previous) & ~np.isnan(same)
    label = table.label[rows]
    if label.all() or not label.any():
        return None
    power_same = abs(roc_auc_score(label, same[rows]) - 0.5)
    power_previous = abs(roc_auc_score(label, previous[rows]) - 0.5)
    lost = power_same - power_previous
    severity = graded(lost, POWER_LOST_HIGH, POWER_LOST_MEDIUM)
    if severity == "high" and power_previous > POWER_KEPT_HIGH * power_same:
        severity = "medium"
    evidence = pd.DataFrame({"value": ["the day's value (as joined)", "the previous day's value"],
                             "roc_auc_minus_half": [power_same, power_previous], "rows": int(rows.sum())}
                            ).set_index("value")
    summary = (f"`{feature}` is constant within each {table.spec.entity} and day; with the previous day's value "
               f"its predictive power falls from {power_same:.3f} to {power_previous:.3f} (|AUC - 0.5|)")
    return Finding("calendar_join", FAMILY, feature, severity, float(lost),
                   threshold_text(POWER_LOST_HIGH, POWER_LOST_MEDIUM) + " of |AUC - 0.5| lost", summary,
                   FIX_AVAILABILITY + "; export the snapshot's available_at so the audit can check it", evidence)


def label_maturity(table: Table) -> list[Finding]:
    age_days = ((table.extracted_at - table.decision_time).dt.total_seconds() / 86400).to_numpy()
    if not table.spec.label_known_at:
        return [_young_tail(table, age_days)]
    known_at = table.frame[table.spec.label_known_at]
    after = table.label & (known_at > table.extracted_at).to_numpy()
    found = []
    if after.any():
        found.append(Finding("label_after_extraction", FAMILY, table.spec.label, "high", float(after.mean()),
                             "high > 0", f"{int(after.sum()):,} positive labels became known after the extraction "
                             f"({table.extracted_at}): the table's labels were joined later than it claims",
                             "label each row with what was known at extracted_at", pd.DataFrame()))
    delay = ((known_at - table.decision_time).dt.total_seconds() / 86400).to_numpy()
    oldest = age_days >= np.quantile(age_days, 2 / 3)
    observed = np.sort(delay[table.label & oldest & ~np.isnan(delay) & ~after])
    if len(observed) < MIN_POSITIVES:
        return found + [Finding("label_maturity", FAMILY, table.spec.label, "info", float("nan"), "n/a",
                                f"too few positives with a label_known_at among the oldest rows ({len(observed)}) "
                                "to estimate the report delay", FIX_MATURITY)]
    cutoff = float(np.quantile(observed, DELAY_QUANTILE))
    young = float(np.mean(age_days < cutoff))
    known_share = np.searchsorted(observed, age_days, side="right") / len(observed)  # per row: P(delay <= age)
    missing = 1 - float(known_share.mean())
    week = np.floor(age_days / 7).astype(int)
    evidence = pd.DataFrame({"age_weeks": week, "label": table.label, "known_share": known_share}).groupby(
        "age_weeks").agg(rows=("label", "size"), positive_rate=("label", "mean"),
                         expected_share_known=("known_share", "mean"))
    summary = (f"{young:.1%} of rows are younger than the 90th-percentile report delay ({cutoff:.1f} days, "
               f"estimated from the table); about {missing:.1%} of eventual positives are not reported yet; "
               f"suggested maturity cutoff: {np.ceil(cutoff):.0f} days")
    return found + [Finding("label_maturity", FAMILY, table.spec.label, graded(young, YOUNG_HIGH, YOUNG_MEDIUM),
                            young, threshold_text(YOUNG_HIGH, YOUNG_MEDIUM, fmt="{:.0%}") + " of rows",
                            summary, FIX_MATURITY + f" of {np.ceil(cutoff):.0f} days", evidence,
                            lambda ax, e=evidence: _plot_maturity(ax, e))]


def _young_tail(table: Table, age_days: np.ndarray) -> Finding:
    young = age_days <= np.quantile(age_days, YOUNGEST)
    label = table.label
    if young.all():
        return Finding("label_maturity", FAMILY, table.spec.label, "info", float("nan"), "n/a",
                       "every row was decided at the same time: no young tail to compare", FIX_MATURITY)
    ratio, low, high = rate_ratio(label[young].sum(), young.sum(), label[~young].sum(), (~young).sum())
    severity = "medium" if ratio < TAIL_RATIO_MEDIUM and high < 1 else "info"
    summary = (f"the youngest tenth of rows has {ratio:.2f}x the positive rate of the rest (95% CI {low:.2f}-"
               f"{high:.2f}); give label_known_at to tell immature labels from a trend")
    return Finding("label_maturity", FAMILY, table.spec.label, severity, float(ratio),
                   f"medium < {TAIL_RATIO_MEDIUM} (CI below 1)", summary, FIX_MATURITY)


def _plot_maturity(ax, evidence: pd.DataFrame) -> None:
    ax.bar(evidence.index, evidence["positive_rate"], color="#4c72b0", label="positive rate")
    ax.set(xlabel="age at extraction (weeks)", ylabel="positive rate", title="labels by age: a young tail sits low")
    twin = ax.twinx()
    twin.plot(evidence.index, evidence["expected_share_known"], color="#c44e52", marker="o", ms=3)
    twin.set(ylabel="expected share of positives known", ylim=(0, 1.05))
