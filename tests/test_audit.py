"""The audit's spec, and its time-travel and default-signalling checks on small tables with a known
answer -- tables that are not fraud and do not use fraudworld's column names."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from simulator import audit
from simulator.audit import default_signalling, time_travel
from simulator.audit.spec import SpecError, check_table, spec_from_mapping

START = pd.Timestamp("2025-01-01")


def loans(n: int = 20_000, days: int = 120, seed: int = 0) -> pd.DataFrame:
    """A lending table: one application per row, decided at ``applied_at``."""
    rng = np.random.default_rng(seed)
    applied = START + pd.to_timedelta(np.sort(rng.uniform(0, days, n)), unit="D")
    return pd.DataFrame({"applied_at": applied.round("s"), "applicant": rng.integers(0, n // 8, n),
                         "income": rng.lognormal(10, 0.5, n).round(2), "defaulted": rng.random(n) < 0.05})


def findings(frame: pd.DataFrame, spec: dict, family) -> dict:
    table = check_table(frame, spec_from_mapping(spec))
    return {f.subject: f for f in family.checks(table)}


BASE = {"decision_time": "applied_at", "label": "defaulted", "entity": "applicant"}


# --- the spec ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({"label": "y"}, r"decision_time: missing"),
    ({**BASE, "decison_time": "x"}, r"decison_time: unknown field \(did you mean 'decision_time'\?\)"),
    ({**BASE, "segments": "region"}, r"segments: 'region' is not allowed; expected an array of column names"),
    ({**BASE, "periods": 1}, r"periods: 1 is not allowed; expected a whole number of time blocks from 2 to 24"),
    ({**BASE, "extracted_at": "soon"}, r"extracted_at: 'soon' is not allowed; expected a date-time"),
    ({**BASE, "reference": [dt.datetime(2025, 2, 1), dt.datetime(2025, 1, 1)], "current": [
        dt.datetime(2025, 3, 1), dt.datetime(2025, 4, 1)]}, r"reference: .* a start before its end"),
    ({**BASE, "reference": [dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)]}, r"reference, current: give both"),
    ({**BASE, "features": {"income": {"default": [0]}}}, r"features.income.default: unknown field .*'defaults'"),
    ({**BASE, "features": {"income": {"defaults": ["zero"]}}}, r"features.income.defaults: .* an array of numbers"),
    ({**BASE, "features": 3}, r"features: 3 is not allowed"),
])
def test_a_bad_spec_names_the_field_and_what_is_allowed(spec, message):
    with pytest.raises(SpecError, match=message):
        spec_from_mapping(spec)


@pytest.mark.parametrize("change, spec, message", [
    (lambda f: f.drop(columns="applied_at"), BASE, r"decision_time: column 'applied_at' is not in the table"),
    (lambda f: f, {**BASE, "label": "defaulted_"}, r"label: column 'defaulted_' .* \(did you mean 'defaulted'\?\)"),
    (lambda f: f.assign(defaulted=np.arange(len(f)) % 3), BASE, r"label: column 'defaulted' holds \[.*\]; "
                                                                  r"expected 0/1 or true/false"),
    (lambda f: f.assign(defaulted=np.where(np.arange(len(f)) == 5, np.nan, 0.0)), BASE, r"1 missing labels"),
    (lambda f: f.assign(applied_at=f["applied_at"].astype(str).where(f.index != 7, "yesterday")), BASE,
     r"decision_time: column 'applied_at' has 1 values that are not date-times, e.g. 'yesterday'"),
    (lambda f: f.assign(applied_at=f["applied_at"].dt.tz_localize("UTC")), BASE, r"has a time zone \(UTC\)"),
    (lambda f: f.assign(applied_at=np.arange(len(f))), BASE, r"column 'applied_at' is int64; expected date-times"),
    (lambda f: f.assign(opened_at=f["applied_at"]), {**BASE, "features": ["income", "opened_at"]},
     r"features.opened_at: .* holds times"),
    (lambda f: f, {**BASE, "features": ["income", "applied_at"]}, r"features.applied_at: .* the spec's decision_time"),
    (lambda f: f.assign(grade="A"), {**BASE, "features": {"grade": {"defaults": [0]}}},
     r"features.grade.defaults: column 'grade' is .*; defaults need a numeric column"),
    (lambda f: f, {**BASE, "extracted_at": dt.datetime(2025, 2, 1)}, r"extracted_at: .* before the latest decision"),
    (lambda f: f.iloc[:0], BASE, r"table: it has no rows"),
])
def test_a_table_that_does_not_fit_its_spec_is_refused_naming_the_field(change, spec, message):
    with pytest.raises(SpecError, match=message):
        check_table(change(loans(500)), spec_from_mapping(spec))


@pytest.mark.parametrize("change, spec, message", [
    (lambda f: pd.concat([f, f[["income"]]], axis=1), BASE, r"table: columns \['income'\] appear more than once"),
    (lambda f: f, {**BASE, "features": ["income", "defaulted"]}, r"features.defaulted: .* is the spec's label"),
])
def test_duplicate_columns_and_role_columns_as_features_are_refused(change, spec, message):
    with pytest.raises(SpecError, match=message):
        check_table(change(loans(500)), spec_from_mapping(spec))


def test_empty_time_columns_and_text_times_are_understood():
    frame = loans(500).assign(reported_at=np.nan, decided_text=lambda f: f["applied_at"].astype(str))
    table = check_table(frame, spec_from_mapping({**BASE, "label_known_at": "reported_at"}))
    assert table.frame["reported_at"].isna().all() and table.frame["reported_at"].dtype == "datetime64[ns]"
    assert [f.name for f in table.features] == ["income"], "ISO time text is not a feature"
    spec = {**BASE, "features": {"income": {"available_at": "published"}}}
    empty = findings(frame.assign(published=np.nan), spec, time_travel)["income"]
    assert empty.severity == "medium" and "unknown on every row" in empty.summary


def test_times_given_as_iso_strings_are_parsed_and_features_default_to_the_other_columns():
    frame = loans(500).assign(applied_at=lambda f: f["applied_at"].astype(str))
    table = check_table(frame, spec_from_mapping(BASE))
    assert table.decision_time.dtype == "datetime64[ns]"
    assert [f.name for f in table.features] == ["income"]
    assert table.extracted_at == table.decision_time.max()


# --- time travel -----------------------------------------------------------------------------------

def test_values_published_after_the_decision_are_found_with_their_hourly_ramp():
    frame = loans()
    midnight_after = frame["applied_at"].dt.floor("D") + pd.Timedelta(days=1, minutes=5)  # a nightly job, same date
    frame["bureau_published"] = midnight_after.where(np.arange(len(frame)) % 2 == 0, frame["applied_at"] - pd.Timedelta(hours=3))
    frame["bureau_score"] = np.random.default_rng(1).normal(600, 50, len(frame))
    spec = {**BASE, "features": {"bureau_score": {"available_at": "bureau_published"}, "income": {}}}
    late = findings(frame, spec, time_travel)["bureau_score"]
    assert late.check == "availability" and late.severity == "high" and late.measured == pytest.approx(0.5, abs=0.01)
    ramp = late.evidence["median_hours_early"]
    assert ramp.loc[1] > ramp.loc[22] + 15, "a morning decision reads a value published many more hours later"
    frame["bureau_published"] = frame["applied_at"] - pd.Timedelta(hours=1)
    frame.loc[frame.index[:30], "bureau_published"] += pd.Timedelta(hours=2)  # a few clock-skewed rows
    assert findings(frame, spec, time_travel)["bureau_score"].severity == "medium"
    frame["bureau_published"] -= pd.Timedelta(hours=5)
    assert findings(frame, spec, time_travel)["bureau_score"].severity == "info"


def daily_missed_payments(frame: pd.DataFrame, *, same_day: bool) -> np.ndarray:
    """Per applicant, the defaults decided up to the end of the day (``same_day``: the calendar
    join, which counts the day's own outcomes) or of the day before (what was known)."""
    day = frame["applied_at"].dt.floor("D")
    per_day = frame.assign(day=day).groupby(["applicant", "day"])["defaulted"].sum()
    running = per_day.groupby(level=0).cumsum()
    if not same_day:
        running = running - per_day
    return running.reindex(pd.MultiIndex.from_arrays([frame["applicant"], day])).to_numpy(dtype=float)


def test_a_daily_value_joined_by_calendar_date_loses_its_power_on_the_previous_day():
    frame = loans(40_000, days=60)
    frame["missed_payments"] = daily_missed_payments(frame, same_day=True)
    leak = findings(frame, BASE, time_travel)["missed_payments"]
    assert leak.check == "calendar_join" and leak.severity == "high", leak.summary
    frame["missed_payments"] = daily_missed_payments(frame, same_day=False)
    honest = findings(frame, BASE, time_travel)["missed_payments"]
    assert honest.severity == "info", honest.summary
    frame["missed_payments"] += np.random.default_rng(5).random(len(frame))  # changes within the day
    assert "missed_payments" not in findings(frame, BASE, time_travel), "not constant within (entity, day)"


def matured(frame: pd.DataFrame, extracted_at: pd.Timestamp, mean_delay_days: float, seed: int = 2) -> pd.DataFrame:
    """Labels as known at ``extracted_at``: each default is reported an exponential delay after its decision."""
    delay = pd.to_timedelta(np.random.default_rng(seed).exponential(mean_delay_days, len(frame)), unit="D")
    reported = (frame["applied_at"] + delay).where(frame["defaulted"])
    known = reported <= extracted_at
    return frame.assign(defaulted=known, reported_at=reported.where(known))


def test_immature_labels_are_found_with_a_suggested_cutoff_and_a_mature_table_passes():
    end = START + pd.Timedelta(days=120)
    frame = matured(loans(), end, mean_delay_days=10)
    spec = {**BASE, "label_known_at": "reported_at", "extracted_at": end.to_pydatetime()}
    young = findings(frame, spec, time_travel)["defaulted"]
    assert young.check == "label_maturity" and young.severity == "high"
    assert young.measured == pytest.approx(23 / 120, abs=0.05), "rows younger than the 90th-percentile delay (23 d)"
    assert "suggested maturity cutoff: 2" in young.summary
    rate = young.evidence["positive_rate"]
    assert rate.iloc[0] < 0.5 * rate.iloc[-4:].mean(), "the youngest week sits low"
    mature = frame[frame["applied_at"] <= end - pd.Timedelta(days=40)]
    assert findings(mature, spec, time_travel)["defaulted"].severity == "info"


def test_a_label_known_after_the_extraction_is_time_travel():
    end = START + pd.Timedelta(days=120)
    frame = matured(loans(), end + pd.Timedelta(days=60), mean_delay_days=10)  # labels pulled two months later
    spec = {**BASE, "label_known_at": "reported_at", "extracted_at": end.to_pydatetime()}
    table = check_table(frame, spec_from_mapping(spec))
    (after,) = [f for f in time_travel.checks(table) if f.check == "label_after_extraction"]
    assert after.severity == "high" and after.measured > 0


def test_without_label_known_at_a_young_tail_that_sits_low_is_worth_a_look():
    end = START + pd.Timedelta(days=120)
    frame = matured(loans(60_000), end, mean_delay_days=10).drop(columns="reported_at")
    assert findings(frame, BASE, time_travel)["defaulted"].severity == "medium"
    assert findings(loans(60_000), BASE, time_travel)["defaulted"].severity == "info"


# --- default signalling ------------------------------------------------------------------------------

def subscriptions(n: int = 30_000, seed: int = 3) -> pd.DataFrame:
    """A churn table: ``monthly_spend`` unknown for a fifth of rows, who churn far less often."""
    rng = np.random.default_rng(seed)
    unknown = rng.random(n) < 0.2
    churned = rng.random(n) < np.where(unknown, 0.01, 0.08)
    return pd.DataFrame({"renewal_at": START + pd.to_timedelta(np.sort(rng.uniform(0, 90, n)), unit="D"),
                         "account": rng.integers(0, 4000, n), "churned": churned,
                         "monthly_spend": np.where(unknown, np.nan, rng.gamma(3, 20, n).round(2)),
                         "support_tickets": rng.poisson(np.where(churned, 0.8, 0.3))})


SUBS = {"decision_time": "renewal_at", "label": "churned", "entity": "account"}


def test_a_zero_standing_for_unknown_and_carrying_a_label_rate_is_high():
    frame = subscriptions().assign(monthly_spend=lambda f: f["monthly_spend"].fillna(0))
    found = findings(frame, SUBS, default_signalling)
    zero = found["monthly_spend = 0"]
    assert zero.severity == "high" and zero.measured < 0.3
    assert "support_tickets = 0" not in found, "a count's frequent 0 is a real 0: no false alarm"
    assert not [f for f in found.values() if f.severity != "info" and f.subject != "monthly_spend = 0"]


def test_nulls_are_explicit_and_reported_as_info():
    found = findings(subscriptions(), SUBS, default_signalling)
    assert found["monthly_spend null"].severity == "info" and found["monthly_spend null"].measured < 0.3
    assert all(f.severity == "info" for f in found.values())


@pytest.mark.parametrize("fill, subject", [("mean", "monthly_spend = {:g}"), (-999, "monthly_spend = -999"),
                                           (99999, "monthly_spend = 99999")])
def test_imputed_means_and_codes_are_found(fill, subject):
    frame = subscriptions()
    value = round(frame["monthly_spend"].mean(), 2) if fill == "mean" else fill
    frame["monthly_spend"] = frame["monthly_spend"].fillna(value)
    found = findings(frame, SUBS, default_signalling)
    assert found[subject.format(value)].severity == "high"


def test_a_declared_default_of_a_count_is_checked():
    frame = subscriptions()
    frame["support_tickets"] = np.where(frame["monthly_spend"].isna(), 0, frame["support_tickets"] + 1)
    spec = {**SUBS, "features": {"support_tickets": {"defaults": [0]}, "monthly_spend": {}}}
    assert findings(frame, spec, default_signalling)["support_tickets = 0"].severity == "high"


def test_a_default_that_comes_and_goes_with_the_hour_is_a_service_timing_out():
    """The same label rate in and out of the bucket, but it appears for active accounts at the peak."""
    rng = np.random.default_rng(4)
    n = 60_000
    frame = pd.DataFrame({"renewal_at": START + pd.to_timedelta(np.sort(rng.uniform(0, 30, n)), unit="D"),
                          "account": rng.integers(0, 2000, n), "churned": rng.random(n) < 0.05,
                          "monthly_spend": rng.gamma(3, 20, n).round(2)})
    peak = frame["renewal_at"].dt.hour.between(19, 21).to_numpy()
    frame.loc[peak & (rng.random(n) < 0.3), "monthly_spend"] = 0.0
    zero = findings(frame, SUBS, default_signalling)["monthly_spend = 0"]
    assert zero.severity == "high" and "timing out" in zero.summary
    without_history = findings(frame, {k: v for k, v in SUBS.items() if k != "entity"}, default_signalling)["monthly_spend = 0"]
    assert without_history.severity != "high", "no label signal: found by its timing alone"


def test_a_table_without_positives_has_no_label_signal():
    frame = subscriptions().assign(churned=False, monthly_spend=lambda f: f["monthly_spend"].fillna(0))
    report = audit.run(frame, SUBS)
    assert report.passed, report.findings.query("severity == 'high'")
    zero = report.finding("default_signalling.sentinel:monthly_spend = 0")
    assert np.isnan(zero.measured) and "no positive label" in zero.summary


@pytest.mark.parametrize("seed", range(5))
def test_a_small_table_s_random_zeros_are_not_a_service_timing_out(seed):
    rng = np.random.default_rng(seed)
    n = 3_000
    frame = pd.DataFrame({"renewal_at": START + pd.to_timedelta(np.sort(rng.uniform(0, 30, n)), unit="D"),
                          "account": rng.integers(0, 100, n), "churned": rng.random(n) < 0.05,
                          "monthly_spend": np.where(rng.random(n) < 0.02, 0.0, rng.gamma(3, 20, n).round(2))})
    zero = findings(frame, SUBS, default_signalling)["monthly_spend = 0"]
    assert zero.severity != "high" and "timing out" not in zero.summary, zero.summary


def test_entities_with_blanks_and_mixed_types_have_no_history_where_blank():
    frame = subscriptions().assign(monthly_spend=lambda f: f["monthly_spend"].fillna(0))
    frame["account"] = frame["account"].map(lambda a: f"acct-{a}").astype(object)
    frame.loc[frame.index[::7], "account"] = np.nan
    frame.loc[frame.index[::11], "account"] = 5
    assert findings(frame, SUBS, default_signalling)["monthly_spend = 0"].severity == "high"


def test_degenerate_tables_give_info_not_noise():
    frame = loans(2_000).assign(applied_at=START)
    assert findings(frame, BASE, time_travel)["defaulted"].severity == "info"
    spec = {**SUBS, "segments": ["plan"], "features": {"monthly_spend": {"defaults": [-5]}}}
    frame = subscriptions().assign(plan=lambda f: np.where(f["account"] % 2, "team", "solo"))
    declared = findings(frame, spec, default_signalling)["monthly_spend = -5"]
    assert declared.severity == "info" and "proxy" not in declared.summary


def test_run_returns_a_report_over_every_family():
    frame = subscriptions().assign(monthly_spend=lambda f: f["monthly_spend"].fillna(0))
    report = audit.run(frame, SUBS)
    assert not report.passed and "default_signalling.sentinel:monthly_spend = 0" in set(report.findings["id"])
    assert list(report.findings.columns) == audit.findings.COLUMNS
    assert report.findings["severity"].iloc[0] == "high", "worst first"
    assert audit.run(frame, SUBS, fail_on="never").passed


def test_the_readme_s_example_spec_is_a_valid_spec():
    import tomllib

    from simulator.paths import ROOT

    section = (ROOT / "README.md").read_text().split("## Audit your own tables")[1]
    spec = spec_from_mapping(tomllib.loads(section.split("```toml")[1].split("```")[0]))
    assert spec.decision_time == "event_time" and spec.features[0].available_at == "snapshot_available_at"
