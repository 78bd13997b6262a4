"""``fraudworld audit``, end to end: a user's table (a churn table, not fraudworld's column names)
in CSV and Parquet, its spec, the three reports, the exit codes, and every bad input refused with
exit 2, a message naming the field, and nothing written.

Most runs go through :func:`simulator.cli.main` in-process, with the check families replaced by
fakes that return chosen findings (so the exit codes and the report's contents are known); one
runs the real checks, and one the real command in a subprocess.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tomllib
import types
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import simulator.audit
from simulator.audit import cli as audit_cli
from simulator.audit import html
from simulator.audit.findings import SCHEMA_VERSION, Finding, Report
from simulator.cli import main
from test_cli import Run
from test_cli import run as run_command

ROOT = Path(__file__).resolve().parent.parent
OUTPUTS = {"report.html", "summary.md", "report.json"}
PREFIX = "fraudworld audit: error:"
ODD_FEATURE = "logins<7d>&co"  # a user's column name that must be escaped in the HTML
SPEC = f"""\
decision_time = "scored_at"
label = "churned"
label_known_at = "churn_logged_at"
entity = "customer_id"
segments = ["plan"]

[features.tenure_days]
[features."{ODD_FEATURE}"]
available_at = "snapshot_at"
defaults = [-1]
"""


def run(*argv) -> Run:
    """``fraudworld audit`` in-process, with its stdout and stderr."""
    return run_command("audit", *argv)


def churn_frame(n: int = 600, seed: int = 3) -> pd.DataFrame:
    """A churn model's training table: one row per scoring, times as datetime64."""
    rng = np.random.default_rng(seed)
    scored = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 120 * 86_400, n)), unit="s")
    churned = rng.random(n) < 0.15
    logged = pd.Series(scored + pd.to_timedelta(rng.integers(1, 10, n), unit="D")).where(churned)
    return pd.DataFrame({
        "customer_id": rng.integers(1, 150, n), "scored_at": scored, "churned": churned.astype(int),
        "churn_logged_at": logged, "plan": rng.choice(["free", "team", "enterprise"], n),
        "tenure_days": rng.integers(0, 1_500, n), ODD_FEATURE: rng.integers(-1, 30, n),
        "snapshot_at": scored.normalize() - pd.Timedelta(hours=2)})


def planted_frame() -> pd.DataFrame:
    """:func:`churn_frame` (churn independent of every column: nothing to find) with two defects
    planted, each far past its high threshold: 5% of the logins snapshots taken an hour after the
    scoring (time travel: late values beyond 1% of rows), and the logins default ``-1`` filling 40%
    of the rows that stayed but 2% of those that churned (default signalling: a rate ratio near 0.05,
    far below 1/2)."""
    frame = churn_frame()
    rng = np.random.default_rng(7)
    late = rng.random(len(frame)) < 0.05
    frame.loc[late, "snapshot_at"] = frame.loc[late, "scored_at"] + pd.Timedelta(hours=1)
    unknown = rng.random(len(frame)) < np.where(frame["churned"] == 1, 0.02, 0.4)
    frame[ODD_FEATURE] = np.where(unknown, -1, rng.integers(0, 30, len(frame)))
    return frame


PLANTED_HIGH = {("time_travel", "availability", ODD_FEATURE), ("default_signalling", "sentinel", f"{ODD_FEATURE} = -1")}


def high_findings(report: dict) -> set[tuple[str, str, str]]:
    return {(f["family"], f["check"], f["subject"]) for f in report["findings"] if f["severity"] == "high"}


def as_csv_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a CSV holds it: times written as ISO strings, missing ones empty."""
    out = frame.copy()
    for c in ("scored_at", "churn_logged_at", "snapshot_at"):
        out[c] = out[c].dt.strftime("%Y-%m-%d %H:%M:%S")
    return out


@pytest.fixture
def spec(tmp_path) -> Path:
    path = tmp_path / "audit.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(params=["csv", "parquet"])
def table(request, tmp_path) -> Path:
    return write_table(tmp_path, churn_frame(), request.param)


def write_table(directory: Path, frame: pd.DataFrame, kind: str, name: str = "churn") -> Path:
    path = directory / f"{name}.{kind}"
    if kind == "csv":
        as_csv_text(frame).to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name or ".old-" in p.name)


# --- fake check families: chosen findings, so the verdicts are known ------------------------------

def draw_rates(ax):
    ax.bar(["free", "team"], [0.1, 0.3])
    ax.set_ylabel("churn rate")


def findings(*severities: str, figure=draw_rates) -> dict[str, list[Finding]]:
    """One finding per severity, spread over the families; the first has a figure and timestamped
    evidence."""
    families = list(simulator.audit.findings.FAMILIES)
    out = {f: [] for f in families}
    for i, severity in enumerate(severities):
        family = families[i % len(families)]
        evidence = pd.DataFrame({"scored_at": pd.to_datetime(["2025-02-01 10:00", "2025-02-02 11:30"]),
                                 "share": [0.25, 0.5], "plan": ["free", "<b>team</b>"]})
        out[family].append(Finding(
            check=f"check{i}", family=family, subject=ODD_FEATURE if i == 0 else f"col{i}", severity=severity,
            measured=0.25 * (i + 1), threshold="high > 0.5, medium > 0.1",
            summary=f"finding {i}: `{ODD_FEATURE}` is <suspicious>", fix=f"fix {i} & retrain",
            evidence=evidence, figure=figure if i == 0 else None))
    return out


@pytest.fixture
def fake_checks(monkeypatch):
    """Replace the check families with fakes returning the given findings; record what they saw."""
    seen = []

    def install(by_family: dict[str, list[Finding]]):
        modules = {}
        for name, found in by_family.items():
            module = types.ModuleType(f"simulator.audit.{name}")

            def checks(table, found=found):
                seen.append(table)
                return list(found)

            module.checks = checks
            modules[name] = module
        monkeypatch.setattr(simulator.audit, "FAMILIES", tuple(modules))
        monkeypatch.setattr(simulator.audit, "families", lambda: list(modules.values()))
        return seen

    return install


# --- end to end -----------------------------------------------------------------------------------

def test_audit_writes_three_reports_and_prints_the_summary(table, spec, tmp_path, fake_checks):
    seen = fake_checks(findings("high", "medium", "info"))
    out = tmp_path / "report"
    result = run(table, "--spec", spec, "--out", out)
    assert result.code == 1, result.err  # a high finding fails at the default --fail-on high
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert leftovers(tmp_path) == []
    summary = (out / "summary.md").read_text()
    assert result.out == summary
    assert "failed (fail on high)" in summary and "finding 0" in summary and "finding 1" in summary
    assert "finding 2" not in summary  # info stays out of the pull-request summary

    # every family saw the table with its times parsed (a CSV's text included) and the label as booleans
    assert len(seen) == 3
    checked = seen[0]
    assert len(checked.frame) == 600
    assert checked.frame["scored_at"].dtype == "datetime64[ns]"
    assert checked.frame["snapshot_at"].dtype == "datetime64[ns]"
    assert checked.label.dtype == bool and checked.label.sum() == churn_frame()["churned"].sum()

    report = json.loads((out / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["passed"] is False and report["fail_on"] == "high"
    assert report["counts"] == {"high": 1, "medium": 1, "info": 1}
    assert report["table"]["rows"] == 600
    assert report["table"]["features"] == ["tenure_days", ODD_FEATURE]
    assert [f["severity"] for f in report["findings"]] == ["high", "medium", "info"]
    evidence = report["findings"][0]["evidence"]
    assert evidence[0]["scored_at"].startswith("2025-02-01T10:00")

    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "fraudworld audit: <span class=\"word\">failed</span>" in page
    assert_self_contained(page)
    images = re.findall(r'<img[^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1  # one finding has a figure
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "logins&lt;7d&gt;&amp;co" in page and ODD_FEATURE not in page  # user text escaped
    assert "&lt;b&gt;team&lt;/b&gt;" in page and "<b>team</b>" not in page
    for title in ("Time travel", "Default signalling", "Population shift"):
        assert f"<h2>{title} " in page


def assert_self_contained(page: str) -> None:
    """No resource or link outside the page: no http(s) or protocol-relative src/href, no
    @import or url() in the CSS, no scripts."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"' >]+)""", page, flags=re.I)
    external = [r for r in refs if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", r, flags=re.I)]
    assert external == []
    assert all(r.startswith(("#", "data:image/png;base64,")) for r in refs), refs
    assert not re.search(r"@import|url\(|<script|<link", page, flags=re.I)


@pytest.mark.parametrize("severities, fail_on, code", [
    (("medium", "info"), "medium", 1), (("medium", "info"), "high", 0), (("medium",), "never", 0),
    (("high",), "never", 0), (("info", "info"), "medium", 0), ((), "medium", 0), (("high",), "medium", 1),
])
def test_exit_code_follows_fail_on(severities, fail_on, code, spec, tmp_path, fake_checks):
    fake_checks(findings(*severities))
    table = write_table(tmp_path, churn_frame(), "parquet")
    result = run(table, "--spec", spec, "--out", tmp_path / "report", "--fail-on", fail_on)
    assert result.code == code, result.err
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["passed"] is (code == 0) and report["fail_on"] == fail_on
    assert f"fail on {fail_on}" in result.out


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_real_checks_run_on_a_users_table(kind, spec, tmp_path):
    out = tmp_path / "report"
    result = run(write_table(tmp_path, planted_frame(), kind), "--spec", spec, "--out", out)
    assert result.code == 1, result.err
    report = json.loads((out / "report.json").read_text())
    assert high_findings(report) == PLANTED_HIGH  # the planted defects, and nothing else is high
    assert report["passed"] is False and report["table"]["rows"] == 600
    assert report["table"]["roles"]["decision_time"] == "scored_at"
    page = (out / "report.html").read_text()
    assert_self_contained(page)
    assert page.count('<details class="finding') == len(report["findings"])
    for image in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page):
        assert base64.b64decode(image).startswith(b"\x89PNG")
    assert result.out == (out / "summary.md").read_text()


def test_command_in_a_subprocess(tmp_path, spec):
    table = write_table(tmp_path, planted_frame(), "csv")
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "simulator.cli", "audit", str(table), "--spec", str(spec),
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    assert proc.returncode == 1, proc.stderr  # the planted high findings fail at the default --fail-on high
    assert high_findings(json.loads((out / "report.json").read_text())) == PLANTED_HIGH
    assert proc.stdout == (out / "summary.md").read_text()
    assert "failed at --fail-on high; wrote report.html, summary.md, report.json" in proc.stderr


def test_progress_bar_on_a_large_table(table, spec, tmp_path, fake_checks, monkeypatch):
    fake_checks(findings("info"))
    monkeypatch.setattr(audit_cli, "LARGE_TABLE_BYTES", 1)
    result = run(table, "--spec", spec, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    assert "audit: done: 5/5 steps" in result.err and "audit: time_travel" in result.err
    monkeypatch.setattr(audit_cli, "LARGE_TABLE_BYTES", 10**12)
    quiet = run(table, "--spec", spec, "--out", tmp_path / "again")
    assert "steps" not in quiet.err


@pytest.mark.parametrize("kind", ["csv with a byte-order mark", "parquet with a named index"])
def test_tables_as_other_tools_write_them(kind, spec, tmp_path, fake_checks):
    seen = fake_checks(findings("info"))
    frame = churn_frame()
    if kind.startswith("csv"):
        path = tmp_path / "churn.csv"
        as_csv_text(frame).to_csv(path, index=False, encoding="utf-8-sig")  # as Excel saves CSV
    else:
        path = tmp_path / "churn.parquet"
        frame.set_index("customer_id").to_parquet(path)  # the entity saved as the index
    result = run(path, "--spec", spec, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    assert list(seen[0].frame.columns) == list(frame.columns)
    assert seen[0].frame["customer_id"].tolist() == frame["customer_id"].tolist()


def test_force_replaces_a_non_empty_directory(table, spec, tmp_path, fake_checks):
    fake_checks(findings("info"))
    out = tmp_path / "report"
    out.mkdir()
    (out / "old.txt").write_text("old")
    assert run(table, "--spec", spec, "--out", out, "--force").code == 0
    assert {p.name for p in out.iterdir()} == OUTPUTS
    assert leftovers(tmp_path) == []


def test_an_empty_existing_directory_is_used(table, spec, tmp_path, fake_checks):
    fake_checks(findings())
    (tmp_path / "report").mkdir()
    result = run(table, "--spec", spec, "--out", tmp_path / "report")
    assert result.code == 0, result.err
    assert "No finding above info" in result.out
    assert {p.name for p in (tmp_path / "report").iterdir()} == OUTPUTS


def test_help_documents_exit_codes_and_its_example_spec_is_valid(capsys):
    assert main(["audit", "--help"]) == 0
    text = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "130"):
        assert re.search(rf"^\s+{code.strip()}\s+\S", text, re.M), code
    assert "fraudworld audit train.parquet --spec audit.toml --out report" in text
    block = text.split("simulator/audit/spec.py):\n", 1)[1].split("\n\n", 1)[0]
    example = simulator.audit.spec_from_mapping(tomllib.loads("\n".join(line[2:] for line in block.splitlines())))
    assert example.decision_time == "scored_at" and [f.name for f in example.features] == ["tenure_days",
                                                                                           "logins_7d"]
    assert main(["--help"]) == 0 and "audit" in capsys.readouterr().out


# --- bad inputs: exit 2, the field named, nothing written --------------------------------------------

def bad_label(tmp):
    return write_table(tmp, churn_frame().assign(churned=np.arange(600) % 3), "csv")


def bad_time(tmp):
    frame = as_csv_text(churn_frame())
    frame.loc[17, "scored_at"] = "17/02/2025 9am"
    frame.to_csv(tmp / "churn.csv", index=False)
    return tmp / "churn.csv"


def zoned_csv(tmp):
    frame = as_csv_text(churn_frame())
    frame["scored_at"] = frame["scored_at"] + "+02:00"
    frame.to_csv(tmp / "churn.csv", index=False)
    return tmp / "churn.csv"


def zoned_parquet(tmp):
    frame = churn_frame()
    return write_table(tmp, frame.assign(scored_at=frame["scored_at"].dt.tz_localize("Europe/Berlin")), "parquet")


def corrupt_parquet(tmp):
    good = write_table(tmp, churn_frame(), "parquet", name="good")
    (tmp / "churn.parquet").write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated
    return tmp / "churn.parquet"


def not_parquet(tmp):
    (tmp / "churn.parquet").write_text("customer_id,scored_at\n1,2025-01-01\n")
    return tmp / "churn.parquet"


def excel(tmp):
    (tmp / "churn.xlsx").write_bytes(b"PK\x03\x04")
    return tmp / "churn.xlsx"


def good_csv(tmp):
    return write_table(tmp, churn_frame(), "csv")


def good_parquet(tmp):
    return write_table(tmp, churn_frame(), "parquet")


BAD_TABLES = {  # name: (a table maker, the words the message must hold)
    "label with 0/1/2": (bad_label, ["label", "'churned'", "0/1"]),
    "unparsable time": (bad_time, ["decision_time", "'scored_at'", "17/02/2025 9am", "ISO 8601"]),
    "time zone in CSV": (zoned_csv, ["decision_time", "'scored_at'", "time zone"]),
    "time zone in Parquet": (zoned_parquet, ["decision_time", "'scored_at'", "time zone"]),
    "corrupt parquet": (corrupt_parquet, ["table", "churn.parquet", "Parquet", ".csv"]),
    "CSV named .parquet": (not_parquet, ["table", "churn.parquet", "Parquet"]),
    "unknown suffix": (excel, ["table", "churn.xlsx", ".xlsx", ".parquet", ".csv"]),
    "missing table": (lambda tmp: tmp / "nope.csv", ["table", "nope.csv", "does not exist"]),
    "a directory as table": (lambda tmp: (tmp / "dir.parquet").mkdir() or tmp / "dir.parquet",
                             ["table", "dir.parquet", "not a file"]),
}


def assert_refused(result: Run, words: list[str], out: Path) -> None:
    assert result.code == 2, (result.code, result.err)
    assert result.out == ""
    assert PREFIX in result.err
    for word in words:
        assert word in result.err, (word, result.err)
    assert not out.exists()
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("case", list(BAD_TABLES))
def test_bad_table_is_refused(case, spec, tmp_path):
    make, words = BAD_TABLES[case]
    out = tmp_path / "report"
    assert_refused(run(make(tmp_path), "--spec", spec, "--out", out), words, out)


BAD_SPECS = {  # name: (the spec's text, or None for no file; the words the message must hold)
    "missing spec file": (None, ["spec", "missing.toml", "cannot read"]),
    "invalid TOML": ('decision_time = "scored_at\nlabel = churned\n', ["spec", "missing.toml", "not valid TOML"]),
    "unknown field": (SPEC.replace("decision_time", "decison_time"),
                      ["decison_time", "unknown field", "did you mean 'decision_time'"]),
    "missing column": (SPEC.replace('label = "churned"', 'label = "churn"'),
                       ["label", "'churn'", "not in the table", "did you mean 'churned'"]),
    "missing feature column": (SPEC.replace("[features.tenure_days]", "[features.tenure]"),
                               ["features.tenure", "'tenure'", "not in the table"]),
    "missing available_at column": (SPEC.replace('"snapshot_at"', '"snapshot_time"'),
                                    ["available_at", "'snapshot_time'", "not in the table"]),
    "feature that holds times": (SPEC.replace('label_known_at = "churn_logged_at"\n', "")  # a role is refused first
                                 .replace("[features.tenure_days]", "[features.churn_logged_at]"),
                                 ["features.churn_logged_at", "holds times"]),
    "periods out of range": ("periods = 1\n" + SPEC, ["periods", "2 to 24"]),
    "defaults not numbers": (SPEC.replace("defaults = [-1]", 'defaults = ["none"]'),
                             [f"features.{ODD_FEATURE}.defaults", "an array of numbers"]),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_bad_spec_is_refused(case, tmp_path):
    text, words = BAD_SPECS[case]
    spec = tmp_path / "missing.toml"
    if text is not None:
        spec.write_text(text)
    out = tmp_path / "report"
    assert_refused(run(good_parquet(tmp_path), "--spec", spec, "--out", out), words, out)


def test_non_empty_out_without_force_is_refused_and_left_alone(spec, tmp_path, fake_checks):
    seen = fake_checks(findings("high"))
    out = tmp_path / "report"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run(good_csv(tmp_path), "--spec", spec, "--out", out)
    assert result.code == 2 and PREFIX in result.err
    assert "out:" in result.err and "not empty" in result.err and "--force" in result.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert leftovers(tmp_path) == []
    assert seen == []  # refused before the table was read or audited


def test_out_that_is_a_file_is_refused(spec, tmp_path):
    (tmp_path / "report").write_text("a file")
    result = run(good_csv(tmp_path), "--spec", spec, "--out", tmp_path / "report", "--force")
    assert result.code == 2 and "out:" in result.err and "not a directory" in result.err
    assert (tmp_path / "report").read_text() == "a file"


def test_force_never_deletes_the_inputs(spec, tmp_path):
    table = good_csv(tmp_path)
    result = run(table, "--spec", spec, "--out", tmp_path, "--force")
    assert result.code == 2 and "out:" in result.err and "is or holds the table" in result.err
    assert table.exists() and spec.exists()


@pytest.mark.parametrize("argv, words", [
    (["--fail-on", "low"], [PREFIX, "--fail-on", "'low'", "high", "medium", "never"]),
    (["--fail-on"], [PREFIX, "--fail-on", "expected one argument"]),
    (["--no-such-flag"], ["fraudworld: error: unrecognized arguments: --no-such-flag"]),  # the top parser's
])
def test_bad_arguments_exit_2(argv, words, spec, tmp_path):
    out = tmp_path / "report"
    result = run(good_csv(tmp_path), "--spec", spec, "--out", out, *argv)
    assert result.code == 2 and result.out == ""
    for word in words:
        assert word in result.err, (word, result.err)
    assert not out.exists()


def test_spec_and_out_are_required(tmp_path):
    result = run(good_csv(tmp_path))
    assert result.code == 2 and "--spec" in result.err and "--out" in result.err


def test_a_failure_while_writing_leaves_nothing(table, spec, tmp_path, fake_checks, monkeypatch):
    fake_checks(findings("high"))
    write_text = Path.write_text

    def full_disk(self, data, *args, **kwargs):
        if self.name == "report.json":
            raise OSError(28, "No space left on device")
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    out = tmp_path / "report"
    assert_refused(run(table, "--spec", spec, "--out", out), ["out:", "No space left on device"], out)


def test_an_interrupted_audit_leaves_nothing(table, spec, tmp_path, monkeypatch):
    def interrupted(table):
        raise KeyboardInterrupt

    monkeypatch.setattr(simulator.audit, "FAMILIES", ("x",))
    monkeypatch.setattr(simulator.audit, "families", lambda: [types.SimpleNamespace(checks=interrupted)])
    out = tmp_path / "report"
    result = run(table, "--spec", spec, "--out", out)
    assert result.code == 130 and "interrupted" in result.err and "nothing was written" in result.err
    assert not out.exists() and leftovers(tmp_path) == []


def test_an_internal_error_exits_2_not_1_and_leaves_nothing(table, spec, tmp_path, monkeypatch):
    def broken(table):
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr(simulator.audit, "FAMILIES", ("x",))
    monkeypatch.setattr(simulator.audit, "families", lambda: [types.SimpleNamespace(checks=broken)])
    out = tmp_path / "report"
    result = run(table, "--spec", spec, "--out", out)
    assert result.code == 2 and result.out == ""
    assert f"{PREFIX} internal error (please report it): RuntimeError: a bug in a check" in result.err
    assert not out.exists() and leftovers(tmp_path) == []


# --- the HTML page and the JSON, on reports built by hand ------------------------------------------

TABLE = {"rows": 600, "columns": 8, "features": ["tenure_days", ODD_FEATURE],
         "roles": {"decision_time": "scored_at", "label": "churned"}, "extracted_at": "2025-05-01T00:00:00"}


def report_of(*found: Finding, fail_on: str = "high") -> Report:
    return Report(tuple(found), TABLE, fail_on)


def finding(severity="high", **kw) -> Finding:
    base = dict(check="availability", family="time_travel", subject="tenure_days", severity=severity, measured=0.3,
                threshold="high > 0.01", summary="late", fix="as-of join")
    return Finding(**{**base, **kw})


def test_html_of_an_empty_report_says_so_and_passes():
    page = html.render(report_of())
    assert "fraudworld audit: <span class=\"word\">passed</span>" in page
    assert "No findings" in page and "<img" not in page
    assert_self_contained(page)


def test_html_truncates_evidence_and_formats_values():
    evidence = pd.DataFrame({"at": pd.date_range("2025-01-01 08:00", periods=30, freq="h"),
                             "share": np.linspace(0, 1, 30), "n": np.arange(30)})
    evidence.loc[3, "share"] = np.nan
    evidence.loc[4, "share"] = np.inf
    page = html.render(report_of(finding(evidence=evidence, measured=float("nan"))))
    section = page.split('<div class="evidence">', 1)[1]
    assert section.count("<tr>") == 1 + html.EVIDENCE_ROWS  # the header and the first rows
    assert f"the first {html.EVIDENCE_ROWS} of 30 rows" in section
    assert "2025-01-01 08:00:00" in section and "2025-01-02 05:00:00" not in section  # row 21 is cut
    assert '<td class="null">&ndash;</td>' in section and "\u221e" in section
    assert ">NaN</span>" in page  # the measured value


def test_html_survives_a_broken_figure_and_closes_every_figure():
    import matplotlib.pyplot as plt

    def broken(ax):
        raise RuntimeError("no data to <plot>")

    before = plt.get_fignums()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = html.render(report_of(finding(figure=broken, subject="a"), finding(figure=draw_rates, subject="b")))
    assert "could not be drawn: RuntimeError: no data to &lt;plot&gt;" in page
    assert page.count("data:image/png;base64,") == 1
    assert any("time_travel.availability:a" in str(w.message) for w in caught)
    assert plt.get_fignums() == before
    assert matplotlib.get_backend()  # untouched and usable


def test_html_is_deterministic_and_anchors_are_unique():
    found = [finding(subject="a b"), finding(subject="a-b"), finding(subject="a<b", severity="info")]
    page = html.render(report_of(*found))
    assert page == html.render(report_of(*found))
    anchors = re.findall(r'<details class="finding [a-z]+" id="([^"]+)"', page)
    assert len(anchors) == 3 == len(set(anchors))
    for a in anchors:
        assert f'href="#{a}"' in page


def test_json_holds_timestamps_and_infinite_evidence():
    evidence = pd.DataFrame({"at": pd.to_datetime(["2025-01-01 08:00", None]), "ratio": [np.inf, 1.5]})
    data = json.loads(report_of(finding(evidence=evidence)).to_json())
    rows = data["findings"][0]["evidence"]
    assert rows[0]["at"].startswith("2025-01-01T08:00") and rows[1]["at"] is None
    assert rows[0]["ratio"] is None and rows[1]["ratio"] == 1.5


@pytest.mark.parametrize("measured", [float("nan"), float("inf"), np.float64("-inf")])
def test_json_of_a_non_finite_measured_value_is_null(measured):
    data = json.loads(report_of(finding(measured=measured, severity="info")).to_json())
    assert data["findings"][0]["measured"] is None


def test_mixed_time_zone_offsets_are_refused(spec, tmp_path):
    frame = as_csv_text(churn_frame())
    frame["scored_at"] = frame["scored_at"] + np.where(np.arange(600) % 2, "+01:00", "+02:00")
    frame.to_csv(tmp_path / "churn.csv", index=False)
    out = tmp_path / "report"
    assert_refused(run(tmp_path / "churn.csv", "--spec", spec, "--out", out), ["decision_time", "time zone"], out)
