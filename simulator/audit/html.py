"""The audit's report as one self-contained HTML page: :func:`render`.

The page opens with no network: inline CSS, no scripts, no fonts or images from anywhere else;
each finding's figure (its ``figure(ax)``, drawn with matplotlib's Agg renderer) is embedded as a
base64 PNG. Every piece of text that comes from the table or the checks -- column names, values,
summaries -- is escaped.

Layout: the verdict and the counts by severity; the table as the spec described it; a summary
table of every finding, worst first; then one section per family with each finding's summary,
measured value against its threshold, fix, lesson, figure and evidence (the first
:data:`EVIDENCE_ROWS` rows). Findings at ``info`` are folded (``<details>``) but present: a clean
audit still shows what it looked at.
"""

from __future__ import annotations

import base64
import io
import math
import re
import warnings
import zlib
from pathlib import PurePosixPath as Path
from html import escape

import numpy as np
import pandas as pd

from .. import __version__
from .findings import FAMILIES, SCHEMA_VERSION, SEVERITIES

EVIDENCE_ROWS = 20
FIGURE_SIZE = (7.0, 3.4)  # inches
FIGURE_DPI = 110
NUM = ' class="num"'

FAMILY_LEDES = {
    "time_travel": "Values the model could not have known when it decided: features that became available "
                   "after the decision time, joins on the calendar date, and labels that had not matured by "
                   "the time the table was extracted.",
    "default_signalling": "A value that stands for \u201cunknown\u201d (a fill such as 0 or -1) and carries a "
                          "different label rate from real values like it; in production the same value also "
                          "comes from timeouts and outages, on exactly the rows that matter.",
    "population_shift": "Segments of unequal risk whose share of the rows moves over time while every "
                        "feature's marginal distribution stays flat: no histogram or KS test sees it, the "
                        "model's error does.",
}

CSS = """
:root { color-scheme: light; --ink: #1d2329; --muted: #5f6b76; --line: #d9dee3; --soft: #f5f7f9;
  --high: #b42318; --high-bg: #fdecea; --medium: #9a5b00; --medium-bg: #fff4e0; --info: #3d5a80;
  --info-bg: #eaf0f7; --pass: #1e7a3d; --pass-bg: #e7f5ec; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.45;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin: 0; display: inline; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.92em; }
a { color: var(--info); }
.muted { color: var(--muted); }
.verdict { border-radius: 8px; padding: 18px 22px; margin-bottom: 8px; border: 1px solid; }
.verdict.failed { background: var(--high-bg); border-color: #f3b8b2; }
.verdict.passed { background: var(--pass-bg); border-color: #a9d9b8; }
.verdict .word { text-transform: uppercase; letter-spacing: 0.04em; }
.verdict.failed .word { color: var(--high); }
.verdict.passed .word { color: var(--pass); }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin-top: 12px; }
.count { border-radius: 6px; padding: 4px 12px; font-weight: 600; background: #fff; border: 1px solid var(--line); }
.sev { display: inline-block; min-width: 62px; text-align: center; border-radius: 4px; padding: 1px 8px;
  font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: 0.03em; }
.sev.high { color: var(--high); background: var(--high-bg); }
.sev.medium { color: var(--medium); background: var(--medium-bg); }
.sev.info { color: var(--info); background: var(--info-bg); }
table { border-collapse: collapse; width: 100%; margin: 8px 0 4px; }
th, td { border-bottom: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.info td { color: var(--muted); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.features { columns: 3 220px; margin: 4px 0 0; padding-left: 18px; }
.finding { border: 1px solid var(--line); border-left-width: 5px; border-radius: 6px; margin: 14px 0;
  background: #fff; }
.finding.high { border-left-color: var(--high); }
.finding.medium { border-left-color: var(--medium); }
.finding.info { border-left-color: #9fb3c8; }
.finding > summary { cursor: pointer; padding: 10px 14px; list-style-position: outside; }
.finding > .body { padding: 0 16px 14px; }
.finding .id { color: var(--muted); margin-left: 8px; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 10px 0; }
.kv dt { color: var(--muted); }
.kv dd { margin: 0; }
figure { margin: 12px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
.evidence { overflow-x: auto; }
.evidence table { font-size: 13px; width: auto; min-width: 40%; }
.evidence caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12px; padding-top: 4px; }
.null { color: #9aa5b1; }
.small { font-size: 12.5px; }
table.summary { table-layout: fixed; }
table.summary td { overflow-wrap: anywhere; }
table.summary a { text-decoration: none; }
table.summary a:hover { text-decoration: underline; }
.note { background: var(--soft); border-radius: 4px; padding: 8px 12px; }
.lede { color: var(--muted); max-width: 880px; margin-top: 0; }
footer { margin-top: 44px; color: var(--muted); font-size: 13px; border-top: 1px solid var(--line); padding-top: 10px; }
@media print { .finding > summary { list-style: none; } details { page-break-inside: avoid; } }
"""


def render(report) -> str:
    """``report`` as a self-contained HTML page (a string)."""
    findings = list(report.findings_list)
    verdict = "passed" if report.passed else "failed"
    title = f"fraudworld audit: {verdict}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body><main>",
        _header(report, verdict),
        _table_section(report.table),
        _summary_section(findings),
        *(_family_section(key, [f for f in findings if f.family == key]) for key in FAMILIES),
        f'<footer>fraudworld {escape(__version__)} &middot; report schema version {SCHEMA_VERSION} &middot; '
        "every finding, with all its evidence rows, is also in the JSON report (<code>report.json</code>; "
        "<code>Report.to_json()</code>).</footer>",
        "</main></body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


# --- the parts of the page ----------------------------------------------------------------------

def _header(report, verdict: str) -> str:
    counts = report.counts()
    failing = report.failing()
    if report.fail_on == "never":
        rule = "fail on <code>never</code>: the audit reports and never fails"
    else:
        rule = (f"fail on <code>{escape(report.fail_on)}</code>: {len(failing)} finding"
                f"{'' if len(failing) == 1 else 's'} at {escape(report.fail_on)}"
                f"{'' if report.fail_on == SEVERITIES[0] else ' or above'}")
    badges = "".join(f'<span class="count"><span class="sev {s}">{s}</span> {counts.get(s, 0):,}</span>'
                     for s in SEVERITIES)
    return (f'<header class="verdict {verdict}"><h1>fraudworld audit: <span class="word">{verdict}</span></h1>'
            f'<div>{rule}.</div><div class="counts">{badges}</div></header>')


def _table_section(table: dict) -> str:
    rows, columns = table.get("rows"), table.get("columns")
    facts = [("rows", _count(rows)), ("columns", _count(columns)),
             ("extracted at", escape(str(table.get("extracted_at", "")))
              + ' <span class="muted">(labels and features are judged as known by then)</span>')]
    roles = table.get("roles") or {}
    facts += [(escape(str(role)), f"<code>{escape(str(column))}</code>") for role, column in roles.items()]
    features = list(table.get("features") or [])
    items = "".join(f"<li><code>{escape(str(f))}</code></li>" for f in features)
    feature_list = f'<ul class="features">{items}</ul>' if features else '<p class="muted">none</p>'
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    return (f'<section id="table"><h2>The table</h2><dl class="facts">{dl}</dl>'
            f'<p><strong>{len(features):,} feature{"" if len(features) == 1 else "s"}</strong></p>{feature_list}'
            "</section>")


def _summary_section(findings: list) -> str:
    if not findings:
        return ('<section id="findings"><h2>Findings</h2><p class="note">No findings: no check reported '
                "anything on this table.</p></section>")
    head = ('<colgroup><col style="width:8%"><col style="width:34%"><col style="width:17%">'
            '<col style="width:29%"><col style="width:12%"></colgroup>'
            "<thead><tr><th>severity</th><th>finding</th><th>measured (threshold)</th><th>fix</th>"
            "<th>lesson</th></tr></thead>")
    rows = "".join(
        f'<tr class="{f.severity}"><td>{_severity(f.severity)}</td>'
        f'<td><a href="#{_anchor(f)}">{_text(f.summary)}</a><br><code class="muted">{escape(f.id)}</code></td>'
        f'<td><span class="mono">{_number(f.measured)}</span><br><span class="small muted">{escape(f.threshold)}'
        f"</span></td><td>{_text(f.fix)}</td><td>{_lesson(f, short=True)}</td></tr>"
        for f in findings)
    return (f'<section id="findings"><h2>Findings</h2><table class="summary">{head}<tbody>{rows}</tbody></table>'
            "</section>")


def _family_section(key: str, findings: list) -> str:
    name, lesson = FAMILIES[key]
    counts = ", ".join(f"{sum(f.severity == s for f in findings)} {s}" for s in SEVERITIES)
    body = "".join(_finding(f) for f in findings) if findings else \
        '<p class="note">No findings in this family.</p>'
    return (f'<section id="{escape(key)}"><h2>{escape(name)} <span class="muted">({counts})</span></h2>'
            f'<p class="lede">{escape(FAMILY_LEDES.get(key, ""))} Lesson: <code>{escape(lesson)}</code>.</p>'
            f"{body}</section>")


def _finding(f) -> str:
    facts = [("measured", f'<span class="mono">{_number(f.measured)}</span>'),
             ("threshold", escape(f.threshold)), ("fix", _text(f.fix)), ("lesson", _lesson(f)),
             ("subject", f"<code>{escape(f.subject)}</code>"), ("check", f"<code>{escape(f.check)}</code>")]
    kv = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    opened = " open" if f.severity != "info" else ""
    return (f'<details class="finding {f.severity}" id="{_anchor(f)}"{opened}>'
            f"<summary>{_severity(f.severity)} <h3>{_text(f.summary)}</h3>"
            f'<code class="id">{escape(f.id)}</code></summary>'
            f'<div class="body"><dl class="kv">{kv}</dl>{_figure(f)}{_evidence(f.evidence)}</div></details>')


def _figure(f) -> str:
    if f.figure is None:
        return ""
    try:
        png = figure_png(f)
    except Exception as exc:  # one check's broken plot must not cost the whole report
        warnings.warn(f"audit report: the figure of {f.id} could not be drawn: {type(exc).__name__}: {exc}",
                      RuntimeWarning, stacklevel=2)
        return f'<p class="note">The figure could not be drawn: {escape(type(exc).__name__)}: {escape(str(exc))}</p>'
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{escape(f.summary)}" src="data:image/png;base64,{data}"></figure>')


def figure_png(finding) -> bytes:
    """The PNG of ``finding``'s figure (:meth:`Finding.plot`: a bare matplotlib Figure, never
    registered with pyplot, so it leaves a notebook's backend alone), rendered by Agg and freed."""
    fig = finding.plot(figsize=FIGURE_SIZE)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
        return buffer.getvalue()
    finally:
        fig.clear()


def _evidence(evidence) -> str:
    if isinstance(evidence, pd.Series):
        evidence = evidence.to_frame()
    if not isinstance(evidence, pd.DataFrame) or evidence.empty:
        return ""
    shown = evidence.head(EVIDENCE_ROWS)
    if not isinstance(shown.index, pd.RangeIndex) or any(n is not None for n in shown.index.names):
        shown = shown.reset_index()  # a meaningful index (row numbers, a segment): show it as columns
    numeric = [pd.api.types.is_numeric_dtype(t) and not pd.api.types.is_bool_dtype(t) for t in shown.dtypes]
    head = "".join(f"<th{NUM if n else ''}>{escape(str(c))}</th>" for c, n in zip(shown.columns, numeric))
    body = "".join(f"<tr>{''.join(_cell(v) for v in row)}</tr>" for row in shown.itertuples(index=False, name=None))
    total = len(evidence)
    caption = (f"evidence: all {total:,} row{'' if total == 1 else 's'}" if total <= EVIDENCE_ROWS
               else f"evidence: the first {EVIDENCE_ROWS} of {total:,} rows (all of them are in the JSON report)")
    return (f'<div class="evidence"><table><caption>{caption}</caption><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


# --- formatting ---------------------------------------------------------------------------------

def _cell(value) -> str:
    if _missing(value):
        return '<td class="null">&ndash;</td>'
    if isinstance(value, (bool, np.bool_)):
        return f"<td>{'true' if value else 'false'}</td>"
    if isinstance(value, (int, float, np.integer, np.floating)):
        return f'<td class="num">{_number(value)}</td>'
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return f'<td class="mono">{escape(_time(pd.Timestamp(value)))}</td>'
    if isinstance(value, (pd.Timedelta, np.timedelta64)):
        return f'<td class="mono">{escape(str(pd.Timedelta(value)))}</td>'
    return f"<td>{escape(str(value))}</td>"


def _missing(value) -> bool:
    """A missing value (None, NaN, NaT, NA); anything that is not a scalar is not missing."""
    if value is None or isinstance(value, str):
        return value is None
    try:
        return bool(np.ndim(value) == 0 and pd.isna(value))
    except (TypeError, ValueError):
        return False


def _number(value) -> str:
    """A measured value or an evidence number, for reading: NaN and infinities spelled out."""
    if value is None:
        return '<span class="null">&ndash;</span>'
    try:
        x = float(value)
    except (TypeError, ValueError):
        return escape(str(value))
    if math.isnan(x):
        return '<span class="null" title="not a number: not measurable on this table">NaN</span>'
    if math.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    if isinstance(value, (int, np.integer)) or (x.is_integer() and abs(x) < 1e7):
        return f"{int(x):,}"
    return escape(f"{x:.3g}".replace("-", "\u2212"))


def _count(value) -> str:
    return f"{value:,}" if isinstance(value, (int, np.integer)) else escape(str(value))


def _time(stamp: pd.Timestamp) -> str:
    text = stamp.isoformat(sep=" ")
    return re.sub(r"(\.\d*?)0+$", r"\1", text).rstrip(".") if "." in text else text


def _text(text) -> str:
    """A check's sentence, escaped, with its `backticked` names set as code."""
    return re.sub(r"`([^`<>]+)`", r"<code>\1</code>", escape(str(text)))


def _severity(severity: str) -> str:
    return f'<span class="sev {escape(severity)}">{escape(severity)}</span>'


def _lesson(f, short: bool = False) -> str:
    """The lesson that teaches a finding: its notebook (by file name only, in the summary table)."""
    if short:
        number = Path(f.lesson).stem.split("_", 1)[0]
        return (f'<span title="{escape(f.lesson)}">{escape(FAMILIES[f.family][0])}<br>'
                f'<span class="small muted">notebook {escape(number)}</span></span>')
    return f"{escape(FAMILIES[f.family][0])}: <code>{escape(f.lesson)}</code>"


def _anchor(f) -> str:
    """An id attribute for a finding: its id, anything but letters, digits and ``-_.`` replaced,
    with a checksum of the id itself so that two ids that differ only there stay apart."""
    return "f-" + re.sub(r"[^A-Za-z0-9_.-]", "-", f.id) + f"-{zlib.crc32(f.id.encode()):08x}"
