"""Population shift without distributional change (lesson 3), looked for in any training table.

A segment (a cohort, a region, a channel) can look like everyone else -- every feature's
histogram flat -- yet be labelled far more often at the same feature values. When its share of
the rows moves, a model that cannot see who the row is decays. From the table alone:

* **periods**: the rows cut by decision time into ``spec.periods`` blocks of equal row counts
  (equal counts, not equal spans, so a table with a thin early history still gets comparable
  blocks; block edges are decision times, a row at an edge goes to the later block), or the
  spec's ``reference`` and ``current`` windows, each ``[start, end)`` (a row in both is current).
  The first period is the reference, the last the current one.
* ``marginals`` / ``feature_drift``: each feature's KS statistic and PSI, reference against current.
* ``hidden_shift``, per segment column: each level's share per period and their total variation
  distance; each level's Mantel-Haenszel odds ratio of the label against the rest at the same
  values (score deciles, or else each feature's deciles or categories, in the same period;
  summarised by the feature that brings it closest to 1, so that no single feature explains it);
  whether a feature names the level (each of its values occurs in that level only); the change
  of the label rate split into a mix part and a within-level part; and, per feature, the drift
  the mix change alone makes (each level's distribution weighted by its shares). The verdict is
  high when the mix moved, a level riskier (or safer) at the same values moved with it, no
  feature names that level, and the mix moves no marginal: hidden from the model and from a
  per-feature drift monitor. A feature naming the level prices the shift in (info); a mix that
  shows in a marginal is not hidden (medium).
* ``segment_calibration``, with a score in [0, 1]: each level's label rate against its mean score,
  relative to the whole table's (a down-sampled model's score, off by one factor everywhere, is no
  segment's fault).

A text feature whose values are nearly all distinct (an id) is left out of all of this.

Labels are as the table holds them. Stratifying the odds ratios by period too keeps labels still
maturing in the current period (or any rate moving with time) from biasing a growing level.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from ..drift import ks_statistic
from .findings import Finding, graded, threshold_text
from .spec import Table
from .stats import odds_ratios_by_level, psi, wilson

FAMILY = "population_shift"

# Marginals. KS_DRIFT is lesson 3's per-feature monitor alert; a flat marginal stays far below it.
KS_DRIFT, KS_MAJOR = 0.05, 0.10
# A KS statistic counts only beyond what sampling alone gives at p = 0.001 (the two-sample critical
# value c * sqrt((n + m) / (n m))): on a small table a flat feature can reach KS_DRIFT by chance.
KS_NOISE = 1.95
# The usual PSI reading: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 a major one.
PSI_DRIFT, PSI_MAJOR = 0.10, 0.25
# KS and PSI read at most this many rows of a period, drawn with a fixed seed: KS's sampling
# error is then about sqrt(2 / n) = 0.003, a small fraction of KS_DRIFT, and 1.5M rows stay fast.
SAMPLE = 200_000
DECILES = 10
# Segment mix: total variation distance of the levels' shares, reference against current. One row
# in fifty moving to another level is a mix change worth a verdict; one in a hundred, a look.
TVD_HIGH, TVD_MEDIUM = 0.02, 0.01
# A level is "riskier at the same values" when its odds ratio's 95% interval excludes 1 and the
# ratio is at least 2 (or at most 1/2): a model blind to the level misprices it by a factor of two.
RISK_RATIO = 2.0
# A level's share "moved" when it changed by a factor of 1.5 (either way), by at least 0.1
# percentage point of the rows (so that a handful of rows cannot make a verdict) and by more than
# sampling alone gives (a two-proportion z beyond 3.29, p = 0.001).
SHARE_FACTOR, SHARE_FLOOR, SHARE_NOISE_Z = 1.5, 0.001, 3.29
# A segment column keeps its MAX_LEVELS largest levels; the rest are one level, "(other)".
MAX_LEVELS = 20
# A feature with at most this many distinct values is taken value by value (strata, and whether it
# names a level); one with more is cut into deciles (numbers) or keeps its CATEGORY_LEVELS largest
# values and lumps the rest (text), and is never taken to name a level.
CATEGORY_LEVELS = 100
# A text feature with distinct values in more than this share of its rows is an identifier (a uuid, an
# order number): no histogram to drift and no "same values" to compare at, so it is left out.
IDENTIFIER_SHARE = 0.5
# Observed over predicted label rate of a level (the bound of its 95% interval nearest to the
# prediction); 1.5 is lesson 3's calibration alert.
CALIBRATION_HIGH, CALIBRATION_MEDIUM = 2.0, 1.5
MIN_PERIOD_ROWS = 100  # fewer rows in the reference or the current period: nothing to compare

FIX = "add context features (who the entity is: tenure, segment) or reweight/retrain on recent data"
DRIFT_FIX = "find what changed upstream (a pipeline, a product, the traffic); retrain on recent data if it is real"
SEGMENTS_FIX = "name who each row is (segments = [\"cohort\", \"region\"]) to look for a hidden shift"


def checks(table: Table) -> list[Finding]:
    """Every population-shift finding on ``table``: marginals, then each segment column."""
    periods = _periods(table)
    sizes = (int(periods.reference.sum()), int(periods.current.sum()))
    if min(sizes) < MIN_PERIOD_ROWS:
        return [Finding("periods", FAMILY, table.spec.decision_time, "info", float(min(sizes)),
                        f"at least {MIN_PERIOD_ROWS} rows in each", f"The reference and current periods hold "
                        f"{sizes[0]:,} and {sizes[1]:,} rows: too few to compare", "widen the periods or "
                        "the windows", pd.DataFrame({"period": periods.names}))]
    sample = _sample(np.arange(len(table.frame)))
    identifiers = [f.name for f in table.features if _is_identifier(table.frame[f.name])]
    features = [f.name for f in table.features if f.name not in identifiers]
    marginals, shares = _marginals(table, periods, features)
    found = [_marginals_finding(marginals, periods, identifiers)]
    found += [_drift_finding(row, shares[row.feature]) for row in marginals.itertuples() if row.severity]
    if not table.spec.segments:
        found.append(Finding("hidden_shift", FAMILY, "(no segments)", "info", float("nan"), "needs segments",
                             "No segment columns in the spec: only the marginals were checked, no hidden-shift "
                             "verdict", SEGMENTS_FIX))
    for column in table.spec.segments:
        found.append(_hidden_shift_finding(column, _segment_shift(table, periods, column, features, sample)))
        if table.spec.score and _is_probability(table.frame[table.spec.score]):
            found.append(_calibration_finding(table, column))
    return found


# --- periods ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Periods:
    code: np.ndarray  # per row: 0 .. len(names) - 1, or -1 outside every period (windows only)
    names: tuple[str, ...]  # each period's span of decision times

    @property
    def reference(self) -> np.ndarray:
        return self.code == 0

    @property
    def current(self) -> np.ndarray:
        return self.code == len(self.names) - 1


def _span(start, end) -> str:
    return f"{pd.Timestamp(start):%Y-%m-%d %H:%M} to {pd.Timestamp(end):%Y-%m-%d %H:%M}"


def _periods(table: Table) -> _Periods:
    """The spec's windows, or ``spec.periods`` blocks of equal row counts by decision time."""
    spec, times = table.spec, table.decision_time.to_numpy()
    if spec.reference is not None:
        (r0, r1), (c0, c1) = (tuple(np.datetime64(t, "ns") for t in w) for w in (spec.reference, spec.current))
        code = np.where((times >= c0) & (times < c1), 1, np.where((times >= r0) & (times < r1), 0, -1))
        return _Periods(code, (_span(r0, r1), _span(c0, c1)))
    ns = times.view("int64")
    kth = [len(ns) * i // spec.periods for i in range(1, spec.periods)]
    edges = np.partition(ns, kth)[kth]
    bounds = [ns.min(), *edges, ns.max()]
    names = tuple(_span(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]))
    return _Periods(np.searchsorted(edges, ns, side="right"), names)


def _sample(rows: np.ndarray) -> np.ndarray:
    """At most :data:`SAMPLE` of ``rows``, the same ones on every run, in table order."""
    if len(rows) <= SAMPLE:
        return rows
    return np.sort(np.random.default_rng(0).choice(rows, SAMPLE, replace=False))


# --- marginals -------------------------------------------------------------------------------------

def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values)


def _numbers(values: pd.Series) -> np.ndarray:
    return values.to_numpy(dtype=float, na_value=np.nan)


def _is_identifier(values: pd.Series) -> bool:
    """Whether a text column is an identifier: distinct values in more than :data:`IDENTIFIER_SHARE` of its rows."""
    return not _is_numeric(values) and values.nunique() > IDENTIFIER_SHARE * len(values)


def _bin_shares(reference: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Each period's share of rows per bin: the reference's deciles for numbers, the categories
    otherwise (both with missing values as a bin of their own)."""
    if _is_numeric(reference):
        ref, cur = _numbers(reference), _numbers(current)
        finite = ref[~np.isnan(ref)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, DECILES + 1)[1:-1])) if finite.size else []
        bounds = [f"{e:.3g}" for e in edges]
        labels = [f"< {bounds[0]}" if bounds else "all"]
        labels += [f"[{a}, {b})" for a, b in zip(bounds[:-1], bounds[1:])] + [f">= {b}" for b in bounds[-1:]]
        codes = [np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right")) for x in (ref, cur)]
        labels.append("missing")
    else:
        codes, labels = _levels(pd.concat([reference, current], ignore_index=True))
        codes = [codes[:len(reference)], codes[len(reference):]]
    counts = [np.bincount(c, minlength=len(labels)) for c in codes]
    out = pd.DataFrame({"bin": labels, "reference": counts[0] / len(codes[0]), "current": counts[1] / len(codes[1])})
    return out[(out["reference"] > 0) | (out["current"] > 0)].set_index("bin")


def _drift_severity(ks: float, psi: float, n: int, m: int) -> str:
    """'medium' for a major move, 'info' for a moderate one, '' for a flat marginal (``n``, ``m``:
    the sizes of the samples KS compared)."""
    noise = KS_NOISE * np.sqrt((n + m) / (n * m))
    if ks > max(KS_MAJOR, noise) or psi > PSI_MAJOR:
        return "medium"
    return "info" if ks > max(KS_DRIFT, noise) or psi > PSI_DRIFT else ""


def _marginals(table: Table, periods: _Periods, features: list[str]) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """Per feature, KS (numbers only) and PSI between (samples of) the reference and current periods."""
    ref, cur = _sample(np.flatnonzero(periods.reference)), _sample(np.flatnonzero(periods.current))
    rows, shares = [], {}
    for feature in features:
        values = table.frame[feature]
        a, b = values.iloc[ref], values.iloc[cur]
        ks = ks_statistic(_numbers(a), _numbers(b)) if _is_numeric(values) else float("nan")
        bins = shares[feature] = _bin_shares(a, b)
        stability = psi(bins["reference"].to_numpy(), bins["current"].to_numpy())
        rows.append({"feature": feature, "ks": ks, "psi": stability,
                     "severity": _drift_severity(ks, stability, len(ref), len(cur)),
                     "missing_reference": float(a.isna().mean()), "missing_current": float(b.isna().mean())})
    columns = ["feature", "ks", "psi", "severity", "missing_reference", "missing_current"]
    return pd.DataFrame(rows, columns=columns), shares


def _drift_text() -> str:
    return (f"medium: KS > {KS_MAJOR:g} or PSI > {PSI_MAJOR:g}; reported: KS > {KS_DRIFT:g} or PSI > {PSI_DRIFT:g} "
            "(KS also beyond sampling noise, p < 0.001)")


def _marginals_finding(marginals: pd.DataFrame, periods: _Periods, identifiers: list[str]) -> Finding:
    drifting = marginals.loc[marginals["severity"] != "", "feature"].tolist()
    moved = (f"{len(drifting)} of {len(marginals)} features drift ({', '.join(drifting[:5])}"
             f"{', ...' if len(drifting) > 5 else ''})" if drifting else f"all {len(marginals)} features stay flat")
    summary = f"Marginals, {periods.names[0]} against {periods.names[-1]}: {moved}"
    measured = float("nan")
    if len(marginals):
        worst = marginals.loc[marginals["ks"].fillna(-1).idxmax()]
        top_psi = marginals.loc[marginals["psi"].idxmax()]
        measured = float(worst["ks"])
        summary += (f"; largest KS {worst['ks']:.3f} ({worst['feature']}), largest PSI {top_psi['psi']:.3f} "
                    f"({top_psi['feature']})")
    if identifiers:
        summary += f"; left out as identifiers (nearly every value distinct): {', '.join(identifiers)}"
    evidence = marginals.set_index("feature")
    return Finding("marginals", FAMILY, "features", "info", measured, _drift_text(), summary,
                   "a flat marginal says nothing about who the rows are: name the segments", evidence,
                   partial(plot_marginals, evidence=evidence))


def _drift_finding(row, shares: pd.DataFrame) -> Finding:
    ks = "" if np.isnan(row.ks) else f"KS {row.ks:.3f}, "
    summary = f"{row.feature} drifts between the reference and current periods: {ks}PSI {row.psi:.3f}"
    measured = row.psi if np.isnan(row.ks) else row.ks
    return Finding("feature_drift", FAMILY, row.feature, row.severity, float(measured), _drift_text(), summary,
                   DRIFT_FIX, shares, partial(plot_bin_shares, evidence=shares))


# --- segments --------------------------------------------------------------------------------------

def _levels(values: pd.Series, keep: int = MAX_LEVELS) -> tuple[np.ndarray, list[str]]:
    """Codes of a column's levels, the most frequent first (missing is a level); beyond ``keep``,
    the rest are one level, ``(other)``. Names are unique: a name already taken (``1`` and ``"1"``,
    a level called ``(other)``) gets `` (2)``, `` (3)``..."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    order = np.argsort(-np.bincount(codes), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    names = ["(missing)" if pd.isna(uniques[i]) else str(uniques[i]) for i in order[:keep]]
    return np.minimum(rank[codes], keep), _unique(names + ["(other)"] * (len(order) > keep))


def _unique(names: list[str]) -> list[str]:
    taken, out = set(), []
    for name in names:
        unique, n = name, 1
        while unique in taken:
            n += 1
            unique = f"{name} ({n})"
        taken.add(unique)
        out.append(unique)
    return out


def _value_codes(values: pd.Series, sample: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Codes of ``values`` for strata, whether they are the values themselves, and whether they are
    ordered (numbers): value by value for a column of at most :data:`CATEGORY_LEVELS` values, else
    deciles with edges from ``sample`` (numbers) or the :data:`CATEGORY_LEVELS` most frequent values
    and one code for the rest (text); missing values a code of their own."""
    if not _is_numeric(values):
        codes, names = _levels(values, CATEGORY_LEVELS)
        return codes, len(names) <= CATEGORY_LEVELS, False
    x = _numbers(values)
    seen = x[sample]
    if len(np.unique(seen)) > CATEGORY_LEVELS:
        edges = np.unique(np.quantile(seen[~np.isnan(seen)], np.linspace(0, 1, DECILES + 1)[1:-1]))
        return np.where(np.isnan(x), len(edges) + 1, np.searchsorted(edges, x, side="right")), False, True
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
    return codes, len(uniques) <= CATEGORY_LEVELS, True


def _named(values: np.ndarray, level: np.ndarray, n_levels: int) -> np.ndarray:
    """Per level, whether a feature's value tells it: no value of its rows occurs in another level."""
    pairs = np.bincount(values * n_levels + level, minlength=(values.max() + 1) * n_levels).reshape(-1, n_levels) > 0
    shared = pairs.sum(1) > 1
    return ~(pairs & shared[:, None]).any(0)


def _mix_drift(values: np.ndarray, ordered: bool, level: np.ndarray, n_levels: int, w0: np.ndarray,
               w1: np.ndarray) -> tuple[float, float]:
    """KS (ordered values only) and PSI between a feature's reference and current marginals had
    only the mix changed: each level's distribution over the table, weighted by its shares."""
    k = values.max() + 1
    counts = np.bincount(level * k + values, minlength=n_levels * k).reshape(n_levels, k)
    profile = counts / counts.sum(1, keepdims=True)
    m0, m1 = w0 @ profile, w1 @ profile
    return (float(np.abs(np.cumsum(m1 - m0)).max()) if ordered else float("nan")), psi(m0, m1)


@dataclass(frozen=True)
class _Shift:
    """One segment column between the reference and the current period."""

    evidence: pd.DataFrame  # per level: rows, shares and label rates per period, odds ratio, parts
    tvd: float  # total variation distance of the levels' shares
    mix_drift: pd.DataFrame  # per feature: the KS and PSI the mix change alone makes
    label_rate: tuple[float, float]  # reference, current


def _at_same_values(table: Table, periods: _Periods, level: np.ndarray, n_levels: int, column: str,
                    shares: tuple[np.ndarray, np.ndarray], names: list[str],
                    sample: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per level: the odds ratio of the label at the same values (score deciles, or each feature's
    values in turn, keeping the one that brings it closest to 1) and the first feature naming it.
    Per feature (of ``names``): the drift the mix change alone makes."""
    label, time = table.label.astype(np.int64), periods.code + 1  # rows outside both windows: a period of their own

    def odds_at(codes: np.ndarray) -> np.ndarray:
        return odds_ratios_by_level(level, n_levels, label, codes * (len(periods.names) + 1) + time)

    seen_by = np.full(n_levels, column if column in names else "", dtype=object)
    odds, stratifiers, drift = [], [], []
    for name in names:
        codes, exact, ordered = _value_codes(table.frame[name], sample)
        if not table.spec.score and codes.max() > 0:  # a constant feature holds nothing the same
            odds.append(odds_at(codes))
            stratifiers.append(name)
        if exact:
            seen_by = np.where((seen_by == "") & _named(codes, level, n_levels), name, seen_by)
        drift.append((name, *_mix_drift(codes, ordered, level, n_levels, *shares)))
    if table.spec.score:
        odds, stratifiers = [odds_at(_value_codes(table.frame[table.spec.score], sample)[0])], [table.spec.score]
    if not odds:
        odds, stratifiers = [odds_at(np.zeros(len(level), dtype=np.int64))], ["(the period only)"]
    odds = np.array(odds)  # stratifier, (ratio, low, high), level
    best = np.where(np.isnan(odds[:, 0]), np.inf, np.abs(np.log(odds[:, 0]))).argmin(0)
    pick = odds[best, :, np.arange(n_levels)]
    risk = pd.DataFrame({"odds_ratio": pick[:, 0], "odds_low": pick[:, 1], "odds_high": pick[:, 2],
                         "at_same": np.array(stratifiers)[best], "seen_by": seen_by})
    return risk, pd.DataFrame(drift, columns=["feature", "ks", "psi"]).set_index("feature")


def _segment_shift(table: Table, periods: _Periods, column: str, features: list[str], sample: np.ndarray) -> _Shift:
    """Per level of ``column``: rows, share and label rate per period, the odds ratio at the same
    values, the feature naming it, and its mix and within-level parts of the label-rate change,
    ``sum((w1 - w0) * r0)`` and ``sum(w1 * (r1 - r0))`` (a level absent from the reference: ``r0``
    is its rate over the table)."""
    level, names = _levels(table.frame[column])
    n_levels, n_periods = len(names), len(periods.names)
    inside = periods.code >= 0
    cell = periods.code[inside] * n_levels + level[inside]
    rows = np.bincount(cell, minlength=n_periods * n_levels).reshape(n_periods, n_levels).astype(float)
    positives = np.bincount(cell, weights=table.label[inside], minlength=n_periods * n_levels).reshape(rows.shape)
    share = rows / rows.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = positives / rows
    total = np.bincount(level, minlength=n_levels)
    labelled = np.bincount(level, weights=table.label, minlength=n_levels)
    w0, w1 = share[0], share[-1]
    r0 = np.where(rows[0] > 0, rate[0], labelled / total)
    r1 = np.where(rows[-1] > 0, rate[-1], r0)
    out = pd.DataFrame({"rows": total, "positives": labelled.astype(int)}, index=pd.Index(names, name=column))
    out = out.assign(**{f"share_{p + 1}": share[p] for p in range(n_periods)},
                     **{f"label_rate_{p + 1}": rate[p] for p in range(n_periods)})
    risk, mix_drift = _at_same_values(table, periods, level, n_levels, column, (w0, w1), features, sample)
    out = pd.concat([out, risk.set_index(out.index)], axis=1)
    differs = ((out["odds_low"] > 1) | (out["odds_high"] < 1)).to_numpy()
    far = ((out["odds_ratio"] >= RISK_RATIO) | (out["odds_ratio"] <= 1 / RISK_RATIO)).to_numpy()
    pooled = (rows[0] + rows[-1]) / (rows[0].sum() + rows[-1].sum())
    noise = SHARE_NOISE_Z * np.sqrt(pooled * (1 - pooled) * (1 / rows[0].sum() + 1 / rows[-1].sum()))
    moved = ((np.abs(w1 - w0) >= np.maximum(SHARE_FLOOR, noise))
             & ((w1 >= SHARE_FACTOR * w0) | (w1 * SHARE_FACTOR <= w0)))
    out = out.assign(mix_part=(w1 - w0) * r0, within_part=w1 * (r1 - r0), moved=moved, differs=differs,
                     risky=differs & far)
    return _Shift(out, float(np.abs(w1 - w0).sum() / 2), mix_drift, (float(w0 @ r0), float(w1 @ r1)))


def _hidden_shift_finding(column: str, shift: _Shift) -> Finding:
    """The verdict on one segment column (see the thresholds)."""
    ev, tvd = shift.evidence, shift.tvd
    unseen = ev["seen_by"] == ""
    culprits = ev["moved"] & ev["risky"] & unseen
    concerns = ev["moved"] & ev["differs"] & unseen
    priced = ev["moved"] & ev["risky"] & ~unseen
    drift = shift.mix_drift
    shows = drift[(drift["ks"].fillna(0) > KS_DRIFT) | (drift["psi"] > PSI_DRIFT)]
    if tvd > TVD_HIGH and culprits.any():
        severity = "medium" if len(shows) else "high"
    else:
        severity = "medium" if tvd > TVD_MEDIUM and concerns.any() else "info"
    last = ev.filter(regex=r"^share_\d+$").columns[-1]
    impact = (ev["odds_ratio"].fillna(1) - 1).abs() * (ev[last] - ev["share_1"]).abs()
    candidates = next(c for c in (culprits, concerns | priced, ev["rows"] > 0) if c.any())
    lead = impact[candidates].idxmax()
    row = ev.loc[lead]
    parts = [f"{column}: the mix moved by TVD {tvd:.3f} between the first and last period"]
    if np.isfinite(row["odds_ratio"]):
        parts.append(f"{lead} is {row['odds_ratio']:.2g}x as likely labelled at the same values of {row['at_same']} "
                     f"(95% CI {row['odds_low']:.2g}-{row['odds_high']:.2g}) and went from {row['share_1']:.2%} "
                     f"to {row[last]:.2%} of the rows")
    r0, r1 = shift.label_rate
    parts.append(f"the label rate went from {r0:.3%} to {r1:.3%}: {100 * ev['mix_part'].sum():+.2g} points from "
                 f"the mix, {100 * ev['within_part'].sum():+.2g} within levels")
    if culprits.any():
        parts.append(f"no feature tells {column}")
        worst = drift["psi"].idxmax() if len(drift) else "no feature besides identifiers"
        parts.append(f"the mix shows in {shows.index[0]}'s marginal (PSI {shows['psi'].iloc[0]:.3f}): not hidden"
                     if len(shows) else f"the mix alone moves no feature's marginal beyond PSI "
                     f"{drift['psi'].max():.3f} ({worst}), so a drift monitor stays silent")
    elif priced.any():
        parts.append(f"the model sees who the row is ({', '.join(sorted(set(ev.loc[priced, 'seen_by'])))}): "
                     "the shift is priced in")
    threshold = (threshold_text(TVD_HIGH, TVD_MEDIUM) + f"; high also needs a level at odds ratio >= {RISK_RATIO:g} "
                 f"or <= {1 / RISK_RATIO:g} at the same values (95% CI excluding 1) whose share moved "
                 f"x{SHARE_FACTOR:g} and by >= {SHARE_FLOOR:.1%} (and beyond noise), that no feature names, and "
                 f"the mix alone moving no marginal past KS {KS_DRIFT:g} or PSI {PSI_DRIFT:g}")
    return Finding("hidden_shift", FAMILY, column, severity, tvd, threshold, "; ".join(parts), FIX, ev,
                   partial(plot_hidden_shift, evidence=ev))


# --- calibration -----------------------------------------------------------------------------------

def _is_probability(score: pd.Series) -> bool:
    return bool(score.notna().any() and score.min() >= 0 and score.max() <= 1)


def _calibration_finding(table: Table, column: str) -> Finding:
    """Observed label rate against mean score per level, over the whole table, relative to the whole
    table's: a score from a down-sampled or class-weighted model is off by the same factor in every
    level, which says nothing about the segment; a level off by more than the rest is mispriced."""
    level, names = _levels(table.frame[column])
    score = _numbers(table.frame[table.spec.score])
    has = ~np.isnan(score)
    rows = np.bincount(level[has], minlength=len(names)).astype(float)
    positives = np.bincount(level[has], weights=table.label[has], minlength=len(names))
    scored = np.bincount(level[has], weights=score[has], minlength=len(names))
    low, high = wilson(positives, rows)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = positives.sum() / scored.sum()  # the table's observed over predicted
        predicted = scored / rows * scale  # each level's mean score on the table's scale
        ratio = positives / rows / predicted
        nearest = np.clip(predicted, low, high) / predicted  # 1 where the interval holds the prediction
        off = np.maximum(nearest, 1 / nearest)
    off = np.where(np.isnan(off), 1.0, off)  # inf stays: labels where the level's score is 0
    evidence = pd.DataFrame({"rows": rows.astype(int), "mean_score": scored / rows, "predicted": predicted,
                             "observed": positives / rows, "observed_low": low, "observed_high": high,
                             "observed_over_predicted": ratio}, index=pd.Index(names, name=column))
    worst = int(off.argmax())
    summary = (f"{column}: {names[worst]}'s label rate is {ratio[worst]:.2g}x its mean {table.spec.score} "
               f"scaled to the table's label rate ({positives[worst] / rows[worst]:.3%} observed, "
               f"{predicted[worst]:.3%} predicted; over the table, observed is {scale:.2g}x the mean score)")
    severity = "high" if np.isinf(off[worst]) else graded(off[worst], CALIBRATION_HIGH, CALIBRATION_MEDIUM)
    return Finding("segment_calibration", FAMILY, column, severity, float(off[worst]),
                   threshold_text(CALIBRATION_HIGH, CALIBRATION_MEDIUM) + " (observed/predicted or its inverse, "
                   "the 95% bound nearest 1, with the scores scaled to the table's label rate)", summary, FIX, evidence,
                   partial(plot_calibration, evidence=evidence))


# --- figures ---------------------------------------------------------------------------------------

def plot_hidden_shift(ax, evidence: pd.DataFrame) -> None:
    """Each level's share of rows per period (log scale), labelled with its odds ratio at the same values."""
    shares = evidence.filter(regex=r"^share_\d+$")
    x = np.arange(1, shares.shape[1] + 1)
    for name, row in evidence.iterrows():
        odds = f"x{row['odds_ratio']:.2g}" if np.isfinite(row["odds_ratio"]) else "x?"
        style = "-" if row["seen_by"] == "" else ":"
        ax.plot(x, shares.loc[name].to_numpy(), style, marker="o", label=f"{name} ({odds} at the same values"
                + ("" if row["seen_by"] == "" else f", seen by {row['seen_by']}") + ")")
    ax.set_yscale("log")
    ax.set_xticks(x, ["reference", *[f"period {i}" for i in x[1:-1]], "current"])
    ax.set_ylabel("share of rows")
    ax.set_title(f"{evidence.index.name}: share per period, odds ratio of the label at the same values")
    ax.legend(fontsize="small")


def plot_marginals(ax, evidence: pd.DataFrame) -> None:
    """Each feature's KS and PSI, reference against current, against the drift thresholds."""
    _paired_bars(ax, evidence.assign(ks=evidence["ks"].fillna(0)), {"ks": "KS", "psi": "PSI"},
                 "reference against current period")
    ax.axvline(KS_DRIFT, color="C0", ls="--", lw=1)
    ax.axvline(PSI_DRIFT, color="C1", ls="--", lw=1)


def plot_bin_shares(ax, evidence: pd.DataFrame) -> None:
    """A feature's share of rows per bin, reference against current period."""
    _paired_bars(ax, evidence, {"reference": "reference", "current": "current"}, "share of rows")


def _paired_bars(ax, evidence: pd.DataFrame, columns: dict[str, str], xlabel: str) -> None:
    y = np.arange(len(evidence))
    for offset, (column, label) in zip((-0.2, 0.2), columns.items()):
        ax.barh(y + offset, evidence[column], 0.4, label=label)
    ax.set_yticks(y, evidence.index)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.legend(fontsize="small")
def plot_calibration(ax, evidence: pd.DataFrame) -> None:
    """Each level's observed label rate (95% interval) against its mean score scaled to the table's label rate."""
    y = np.arange(len(evidence))
    ax.errorbar(evidence["observed"], y, xerr=[evidence["observed"] - evidence["observed_low"],
                                               evidence["observed_high"] - evidence["observed"]],
                fmt="o", label="observed")
    ax.plot(evidence["predicted"], y, "x", label="mean score, scaled")
    ax.set_yticks(y, evidence.index)
    ax.invert_yaxis()
    ax.set_xlabel("label rate")
    ax.legend(fontsize="small")
