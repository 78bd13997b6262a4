"""The population-shift audit: a segment riskier at the same values whose share moves while every
marginal stays flat, found in constructed credit tables with known answers and in the lessons' tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from simulator.audit import population_shift as ps
from simulator.audit import run, stats
from simulator.audit.spec import check_table, spec_from_mapping

START = pd.Timestamp("2025-01-01")
DAYS = 90


def credit_table(*, seed: int = 0, rows: int = 60_000, broker_share=(0.10, 0.40), broker_odds: float = 4.0,
                 income_growth: float = 0.0, broker_utilisation: tuple[float, float] = (2, 5),
                 jump_at: float | None = None) -> pd.DataFrame:
    """Loan applications over 90 days: ``channel`` is 'broker' or 'branch'; the broker share moves
    linearly from ``broker_share[0]`` to ``[1]`` (or jumps at the ``jump_at`` fraction of the window);
    a broker applicant's odds of default are ``broker_odds`` times a branch applicant's at the same
    income and utilisation. Incomes grow by ``income_growth`` over the window for everyone; broker
    utilisation is Beta(``broker_utilisation``) (branch: Beta(2, 5))."""
    rng = np.random.default_rng(seed)
    progress = np.sort(rng.uniform(0, 1, rows))
    low, high = broker_share
    share = low + (high - low) * progress if jump_at is None else np.where(progress < jump_at, low, high)
    broker = rng.uniform(size=rows) < share
    income = rng.lognormal(10.5, 0.4, rows) * (1 + income_growth * progress)
    utilisation = np.where(broker, rng.beta(*broker_utilisation, rows), rng.beta(2, 5, rows))
    logit = -3.5 + 2.5 * utilisation - 0.8 * (np.log(income) - 10.5) + np.log(broker_odds) * broker
    return pd.DataFrame({
        "applied_at": START + pd.to_timedelta(progress * DAYS, unit="D"),
        "defaulted": (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int),
        "income": income, "utilisation": utilisation,
        "channel": np.where(broker, "broker", "branch"),
    })


def audit(frame: pd.DataFrame, **spec) -> list:
    mapping = {"decision_time": "applied_at", "label": "defaulted", "segments": ["channel"],
               "features": ["income", "utilisation"], **spec}
    return ps.checks(check_table(frame, spec_from_mapping(mapping)))


def one(found: list, check: str, subject: str | None = None):
    (finding,) = [f for f in found if f.check == check and (subject is None or f.subject == subject)]
    return finding


# --- constructed tables with known answers -----------------------------------------------------------

def test_hidden_shift_riskier_segment_growing_behind_flat_marginals_is_high():
    found = audit(credit_table())
    verdict = one(found, "hidden_shift", "channel")
    assert verdict.severity == "high", verdict.summary
    broker = verdict.evidence.loc["broker"]
    assert broker["risky"] and broker["moved"] and broker["seen_by"] == ""
    assert 3.0 < broker["odds_ratio"] < 5.5 and broker["odds_low"] > ps.RISK_RATIO
    assert broker["share_1"] < 0.25 < 0.3 < broker["share_3"]
    assert verdict.measured > 0.1  # TVD of the channel mix, first third against last
    assert not [f for f in found if f.check == "feature_drift"]
    assert one(found, "marginals").evidence["ks"].max() < ps.KS_DRIFT
    assert "broker" in verdict.summary and "no feature tells channel" in verdict.summary


def test_decomposition_adds_up_to_the_change_of_the_label_rate():
    frame = credit_table()
    evidence = one(audit(frame), "hidden_shift").evidence
    period = np.searchsorted(np.sort(frame["applied_at"].to_numpy())[[len(frame) // 3, 2 * len(frame) // 3]],
                             frame["applied_at"].to_numpy(), side="right")
    rates = frame.groupby(period)["defaulted"].mean()
    parts = evidence["mix_part"].sum() + evidence["within_part"].sum()
    assert parts == pytest.approx(rates[2] - rates[0], abs=1e-12)
    assert evidence["mix_part"].sum() > 0  # the riskier channel grew


def test_segment_that_is_a_feature_is_priced_in():
    verdict = one(audit(credit_table(), features=["income", "utilisation", "channel"]), "hidden_shift")
    assert verdict.severity == "info"
    assert (verdict.evidence["seen_by"] == "channel").all()
    assert "priced in" in verdict.summary and verdict.evidence.loc["broker", "risky"]


def test_a_feature_that_names_the_segment_prices_it_in():
    frame = credit_table()
    office = np.random.default_rng(3).integers(0, 3, len(frame))
    frame["office"] = np.where(frame["channel"] == "broker", "broker-", "branch-") + office.astype(str)
    verdict = one(audit(frame, features=["income", "utilisation", "office"]), "hidden_shift")
    assert verdict.severity == "info" and (verdict.evidence["seen_by"] == "office").all()
    frame["office"] = np.where(office == 0, "shared", frame["office"])  # one office takes both channels
    verdict = one(audit(frame, features=["income", "utilisation", "office"]), "hidden_shift")
    assert (verdict.evidence["seen_by"] == "").all()
    # The model cannot tell a broker in the shared office, but the brokers' own offices grow in the
    # office feature's marginal: not hidden.
    assert verdict.severity == "medium" and "shows in office's marginal" in verdict.summary


def test_mix_moving_between_equally_risky_segments_is_not_high():
    verdict = one(audit(credit_table(broker_odds=1.0)), "hidden_shift")
    assert verdict.severity == "info", verdict.summary
    assert verdict.measured > 0.1  # the mix did move
    assert not verdict.evidence["risky"].any()
    assert verdict.evidence.loc["broker", "odds_low"] < 1 < verdict.evidence.loc["broker", "odds_high"]


def test_ordinary_drift_is_reported_and_is_not_a_hidden_shift():
    found = audit(credit_table(broker_odds=1.0, income_growth=0.5))
    drift = one(found, "feature_drift", "income")
    assert drift.severity == "medium" and drift.measured > ps.KS_MAJOR
    assert drift.evidence["current"].iloc[-2] > drift.evidence["reference"].iloc[-2]  # more top-decile incomes
    assert "utilisation" not in {f.subject for f in found if f.check == "feature_drift"}
    assert one(found, "hidden_shift").severity == "info"


def test_a_riskier_segment_whose_growth_shows_in_a_marginal_is_not_hidden():
    found = audit(credit_table(broker_utilisation=(5, 2)))  # brokers' applicants use far more of their credit
    assert one(found, "feature_drift", "utilisation").severity == "medium"
    verdict = one(found, "hidden_shift")
    assert verdict.severity == "medium" and "not hidden" in verdict.summary
    assert verdict.evidence.loc["broker", "risky"]


def test_reference_and_current_windows_from_the_spec_are_respected():
    frame = credit_table(jump_at=2 / 3)  # brokers go from 10% to 40% of applications in the last 30 days
    assert one(audit(frame), "hidden_shift").severity == "high"
    windows = {"reference": [START, START + pd.Timedelta(days=30)],
               "current": [START + pd.Timedelta(days=30), START + pd.Timedelta(days=60)]}
    verdict = one(audit(frame, **windows), "hidden_shift")
    assert verdict.severity == "info" and verdict.measured < ps.TVD_MEDIUM
    assert list(verdict.evidence.filter(like="share_").columns) == ["share_1", "share_2"]
    late = one(audit(frame, reference=windows["reference"], current=[START + pd.Timedelta(days=60),
                                                                      START + pd.Timedelta(days=DAYS)]), "hidden_shift")
    assert late.severity == "high" and late.measured > 0.2
    days = (frame["applied_at"] - START).dt.days
    assert late.evidence["share_2"]["broker"] == pytest.approx(frame.loc[days >= 60, "channel"].eq("broker").mean())


def test_periods_are_equal_counts_of_rows_by_decision_time():
    frame = credit_table(rows=10_000)
    evidence = one(audit(frame, periods=4), "hidden_shift").evidence
    assert list(evidence.filter(like="share_").columns) == ["share_1", "share_2", "share_3", "share_4"]
    table = check_table(frame, spec_from_mapping({"decision_time": "applied_at", "label": "defaulted", "periods": 4}))
    assert np.bincount(ps._periods(table).code).tolist() == [2500] * 4


def test_sampling_noise_on_a_small_table_is_not_drift():
    ks = []
    for seed in range(20):
        found = audit(credit_table(seed=seed, rows=3_000, broker_share=(0.2, 0.2)), segments=[])
        assert not [f.summary for f in found if f.check == "feature_drift"]
        ks.append(one(found, "marginals").evidence["ks"].max())
    assert max(ks) > ps.KS_DRIFT  # 1,000 rows a period: a flat feature reaches the alert by chance


def test_without_segments_only_the_marginals_are_checked():
    found = audit(credit_table(rows=5_000), segments=[])
    assert {f.check for f in found} <= {"marginals", "feature_drift", "hidden_shift"}
    verdict = one(found, "hidden_shift")
    assert verdict.severity == "info" and verdict.subject == "(no segments)"


def test_with_a_score_risk_is_compared_at_the_same_score_and_calibration_is_checked():
    frame = credit_table()
    # A model blind to the channel: the default odds of an average applicant at the same income and utilisation.
    logit = -3.5 + 2.5 * frame["utilisation"] - 0.8 * (np.log(frame["income"]) - 10.5) + np.log(4.0) * 0.25
    frame["score"] = 1 / (1 + np.exp(-logit))
    found = audit(frame, score="score")
    verdict = one(found, "hidden_shift")
    assert verdict.severity == "high" and (verdict.evidence["at_same"] == "score").all()
    calibration = one(found, "segment_calibration")
    assert calibration.severity == "high", calibration.summary
    assert calibration.evidence.loc["broker", "observed_over_predicted"] > 1 > \
        calibration.evidence.loc["branch", "observed_over_predicted"]


def channel_model(frame: pd.DataFrame) -> np.ndarray:
    """The true default probability of each applicant of :func:`credit_table` (broker odds 4)."""
    logit = -3.5 + 2.5 * frame["utilisation"] - 0.8 * (np.log(frame["income"]) - 10.5) + np.log(4.0) * \
        frame["channel"].eq("broker")
    return (1 / (1 + np.exp(-logit))).to_numpy()


def test_a_score_off_by_one_factor_everywhere_is_no_segments_miscalibration():
    frame = credit_table(broker_share=(0.05, 0.05))
    frame["score"] = channel_model(frame) / 3  # as a model trained on re-weighted classes: 3x low everywhere
    calibration = one(audit(frame, score="score"), "segment_calibration")
    assert calibration.severity == "info", calibration.summary
    assert calibration.evidence["observed_over_predicted"].to_numpy() == pytest.approx(1, abs=0.1)


def test_a_score_off_in_one_segment_only_is_high_on_that_segment():
    frame = credit_table(broker_share=(0.05, 0.05))
    frame["score"] = channel_model(frame) / np.where(frame["channel"] == "broker", 3, 1)
    calibration = one(audit(frame, score="score"), "segment_calibration")
    assert calibration.severity == "high" and "broker's label rate" in calibration.summary, calibration.summary
    assert calibration.evidence.loc["broker", "observed_over_predicted"] > ps.CALIBRATION_HIGH
    frame["score"] = channel_model(frame) * frame["channel"].eq("branch")  # brokers scored 0, yet they default
    calibration = one(audit(frame, score="score"), "segment_calibration")
    assert calibration.severity == "high" and calibration.measured == np.inf  # not 1.8e308


def test_levels_whose_names_collide_get_unique_names():
    codes, names = ps._levels(pd.Series([1, "1", "1", "(missing)", None, 1, "1"], dtype=object))
    assert names == ["1", "1 (2)", "(missing)", "(missing) (2)"] and codes.tolist() == [1, 0, 0, 2, 3, 1, 0]
    names = ps._levels(pd.Series(["(other)"] * 40 + [f"l{i}" for i in range(30)]))[1]
    assert (names[0], names[-1]) == ("(other)", "(other) (2)")  # a real level called (other), then the lump
    frame = credit_table(rows=20_000)
    frame["channel"] = frame["channel"].map({"broker": "1", "branch": 1})  # two levels both shown as 1
    verdict = one(audit(frame), "hidden_shift")
    assert verdict.severity == "high" and verdict.evidence.index.is_unique, verdict.summary


def test_text_with_many_values_is_lumped_for_strata_and_names_no_level():
    values = pd.Series(np.repeat([f"zip{i}" for i in range(300)], 5))
    codes, exact, ordered = ps._value_codes(values, np.arange(len(values)))
    assert codes.max() == ps.CATEGORY_LEVELS and not exact and not ordered


def test_an_identifier_column_is_left_out_of_drift_and_strata():
    frame = credit_table(rows=20_000)
    frame["application_id"] = [f"{i:08x}-4e2b-9c1d-{i * 7919 % 10**12:012d}" for i in range(len(frame))]
    found = audit(frame, features=["income", "utilisation", "application_id"])
    assert not [f for f in found if f.subject == "application_id" and f.severity != "info"]
    marginals = one(found, "marginals")
    assert "application_id" not in marginals.evidence.index and "identifiers" in marginals.summary
    verdict = one(found, "hidden_shift")
    assert verdict.severity == "high" and (verdict.evidence["at_same"] != "application_id").all()
    only_ids = audit(frame, features=["application_id"])  # no feature left: compared within periods only
    assert one(only_ids, "marginals").evidence.empty and one(only_ids, "hidden_shift").severity == "high"


def test_every_finding_draws_its_figure():
    found = audit(credit_table(broker_utilisation=(5, 2), income_growth=0.5))
    for finding in found:
        ax = Figure().subplots()
        finding.figure(ax)
        assert ax.has_data(), finding.id


def test_the_family_runs_inside_the_audit():
    frame = credit_table(rows=20_000)
    report = run(frame, {"decision_time": "applied_at", "label": "defaulted", "segments": ["channel"]})
    rows = report.findings[report.findings["family"] == "population_shift"]
    assert "population_shift.hidden_shift:channel" in set(rows["id"])


def mantel_haenszel_by_hand(in_level: np.ndarray, label: np.ndarray, strata: np.ndarray) -> tuple:
    """The textbook Mantel-Haenszel odds ratio with the Robins-Breslow-Greenland interval, one
    stratum at a time."""
    sums = dict(r=0.0, s=0.0, pr=0.0, ps_qr=0.0, qs=0.0)
    for k in np.unique(strata):
        g, y = in_level[strata == k], label[strata == k]
        a, b, c, d = (g & y).sum(), (g & ~y).sum(), (~g & y).sum(), (~g & ~y).sum()
        n = a + b + c + d
        r, s_, p, q = a * d / n, b * c / n, (a + d) / n, (b + c) / n
        sums["r"] += r
        sums["s"] += s_
        sums["pr"] += p * r
        sums["ps_qr"] += p * s_ + q * r
        sums["qs"] += q * s_
    ratio = sums["r"] / sums["s"]
    se = np.sqrt(sums["pr"] / (2 * sums["r"] ** 2) + sums["ps_qr"] / (2 * sums["r"] * sums["s"])
                 + sums["qs"] / (2 * sums["s"] ** 2))
    return ratio, ratio * np.exp(-1.959963984540054 * se), ratio * np.exp(1.959963984540054 * se)


def test_odds_ratios_of_every_level_match_the_textbook_formula():
    rng = np.random.default_rng(5)
    level, strata = rng.integers(0, 4, 5_000), rng.integers(0, 7, 5_000)
    label = rng.uniform(size=5_000) < 0.05 * (1 + level)
    got = stats.odds_ratios_by_level(level, 4, label.astype(np.int64), strata)
    for i in range(4):
        assert got[:, i] == pytest.approx(mantel_haenszel_by_hand(level == i, label, strata), rel=1e-12)


def test_psi_of_the_bin_shares_matches_its_definition():
    rng = np.random.default_rng(6)
    reference, current = pd.Series(rng.normal(size=4_000)), pd.Series(rng.normal(0.3, 1.2, 3_000))
    current[::50] = np.nan
    shares = ps._bin_shares(reference, current)
    edges = np.quantile(reference, np.linspace(0, 1, 11)[1:-1])
    expected = 0.0
    for low, high in zip([-np.inf, *edges], [*edges, np.inf]):
        p = max(((reference >= low) & (reference < high)).mean(), 1e-4)
        q = max(((current >= low) & (current < high)).mean(), 1e-4)
        expected += (q - p) * np.log(q / p)
    q_missing = current.isna().mean()
    expected += (q_missing - 1e-4) * np.log(q_missing / 1e-4)
    assert stats.psi(shares["reference"], shares["current"]) == pytest.approx(expected, rel=1e-9)


def test_many_levels_keep_the_largest_and_lump_the_rest():
    values = pd.Series(np.repeat([f"l{i}" for i in range(30)], np.arange(30, 0, -1)))
    codes, names = ps._levels(values)
    assert names[:2] == ["l0", "l1"] and names[-1] == "(other)" and len(names) == ps.MAX_LEVELS + 1
    assert (codes[values.isin([f"l{i}" for i in range(ps.MAX_LEVELS, 30)]).to_numpy()] == ps.MAX_LEVELS).all()


# --- the lessons' tables -----------------------------------------------------------------------------

@pytest.fixture(scope="module", params=[0], ids=lambda s: f"seed{s}")
def world(request):
    """The verdicts' details on seed 0; tests/test_audit_world.py runs every family on seeds 0-2."""
    from simulator.cache import load_world

    return load_world("default", request.param)


def world_findings(world, switches) -> list:
    from simulator.audit.world_tables import training_table

    frame, spec = training_table(world, switches)
    return ps.checks(check_table(frame, spec_from_mapping(spec)))


def test_naive_table_hides_a_growing_riskier_cohort(world):
    from simulator.pipelines import NAIVE

    found = world_findings(world, NAIVE)
    verdict = one(found, "hidden_shift", "cohort")
    assert verdict.severity == "high", verdict.summary
    assert verdict.evidence.loc["expansion", "risky"] and verdict.evidence.loc["expansion", "moved"]
    assert one(found, "marginals").evidence["ks"].max() < ps.KS_DRIFT


def test_correct_table_sees_the_cohort(world):
    from simulator.pipelines import CORRECT

    found = world_findings(world, CORRECT)
    assert not [f for f in found if f.severity == "high"], [f.summary for f in found if f.severity == "high"]
    verdict = one(found, "hidden_shift", "cohort")
    assert "priced in" in verdict.summary and (verdict.evidence["seen_by"] == "cohort_feature").all()


def test_lesson_naive_table_without_context_hides_the_cohort(world):
    from simulator.lessons.population_shift import NAIVE

    verdict = one(world_findings(world, NAIVE), "hidden_shift", "cohort")
    assert verdict.severity == "high", verdict.summary
