"""What an audit finds: one :class:`Finding` per check and subject, and the :class:`Report` of them.

A finding carries the measured value against the threshold its severity came from, the rows that
show it (``evidence``: a small DataFrame), a one-line fix and the lesson notebook that teaches it.
Severities, from worst: ``high`` (the model will fail in production this way), ``medium`` (it may;
look), ``info`` (measured, and fine -- reported so a clean audit still shows what it looked at).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from .. import __version__

SCHEMA_VERSION = 1
SEVERITIES = ("high", "medium", "info")
FAIL_ON = ("high", "medium", "never")
FAMILIES = {
    "time_travel": ("Time travel", "notebooks/01_time_travel.ipynb"),
    "default_signalling": ("Default signalling", "notebooks/02_default_signalling.ipynb"),
    "population_shift": ("Population shift", "notebooks/03_population_shift.ipynb"),
}
COLUMNS = ["id", "family", "check", "subject", "severity", "measured", "threshold", "summary", "fix", "lesson"]


@dataclass(frozen=True)
class Finding:
    """One check's result on one subject (a feature, the label, a segment column)."""

    check: str  # e.g. "availability"
    family: str  # a key of FAMILIES
    subject: str
    severity: str
    measured: float
    threshold: str  # how ``measured`` was judged, e.g. "high > 0.01, medium > 0"
    summary: str
    fix: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False)
    figure: Callable | None = field(default=None, compare=False)  # draws the evidence: figure(ax)

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family: {self.family!r}; expected one of {sorted(FAMILIES)}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity: {self.severity!r}; expected one of {SEVERITIES}")

    @property
    def id(self) -> str:
        return f"{self.family}.{self.check}:{self.subject}"

    @property
    def lesson(self) -> str:
        return FAMILIES[self.family][1]

    def plot(self, figsize=(7.0, 3.4)):
        """This finding's figure, drawn on a new matplotlib Figure (``None`` if it has none)."""
        if self.figure is None:
            return None
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize, layout="constrained")
        self.figure(fig.subplots())
        return fig


def graded(measured: float, high: float, medium: float, *, above: bool = True) -> str:
    """The severity of ``measured`` against two thresholds (``above``: larger is worse)."""
    if not np.isfinite(measured):
        return "info"
    worse = (lambda a, b: a > b) if above else (lambda a, b: a < b)
    return "high" if worse(measured, high) else "medium" if worse(measured, medium) else "info"


def threshold_text(high: float, medium: float, *, above: bool = True, fmt: str = "{:.3g}") -> str:
    sign = ">" if above else "<"
    return f"high {sign} {fmt.format(high)}, medium {sign} {fmt.format(medium)}"


@dataclass(frozen=True)
class Report:
    """Every finding of an audit, worst first; ``passed`` means nothing at or above ``fail_on``."""

    findings_list: tuple[Finding, ...]
    table: dict  # rows, columns, the spec's roles, extracted_at
    fail_on: str = "high"

    def __post_init__(self):
        if self.fail_on not in FAIL_ON:
            raise ValueError(f"fail_on: {self.fail_on!r} is not allowed; expected one of {FAIL_ON}")
        order = sorted(self.findings_list, key=lambda f: (SEVERITIES.index(f.severity), f.family, f.check, f.subject))
        object.__setattr__(self, "findings_list", tuple(order))

    @property
    def findings(self) -> pd.DataFrame:
        """One row per finding: :data:`COLUMNS`."""
        rows = [{"id": f.id, "family": f.family, "check": f.check, "subject": f.subject, "severity": f.severity,
                 "measured": f.measured, "threshold": f.threshold, "summary": f.summary, "fix": f.fix,
                 "lesson": f.lesson} for f in self.findings_list]
        return pd.DataFrame(rows, columns=COLUMNS)

    def finding(self, finding_id: str) -> Finding:
        """The finding with this ``id`` (a KeyError lists the ids there are)."""
        for f in self.findings_list:
            if f.id == finding_id:
                return f
        raise KeyError(f"no finding {finding_id!r}; the report has: {[f.id for f in self.findings_list]}")

    def failing(self, fail_on: str | None = None) -> list[Finding]:
        level = self.fail_on if fail_on is None else fail_on
        if level == "never":
            return []
        worst = SEVERITIES.index(level)
        return [f for f in self.findings_list if SEVERITIES.index(f.severity) <= worst]

    @property
    def passed(self) -> bool:
        return not self.failing()

    def counts(self) -> dict[str, int]:
        return {s: sum(f.severity == s for f in self.findings_list) for s in SEVERITIES}

    def to_markdown(self) -> str:
        """A short summary fit for a pull-request comment: the verdict, then every finding above info."""
        counts = self.counts()
        verdict = "passed" if self.passed else "failed"
        lines = [f"### fraudworld audit: {verdict} (fail on {self.fail_on})", "",
                 f"{self.table['rows']:,} rows, {len(self.table['features'])} features; "
                 f"{counts['high']} high, {counts['medium']} medium, {counts['info']} info.", ""]
        shown = [f for f in self.findings_list if f.severity != "info"]
        if shown:
            lines += ["| severity | finding | measured | threshold | fix |", "|---|---|---:|---|---|"]
            lines += [f"| **{f.severity}** | {f.summary} (`{f.id}`) | {f.measured:.3g} | {f.threshold} | "
                      f"{f.fix} ([lesson]({f.lesson})) |" for f in shown]
        else:
            lines.append("No finding above info.")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "fraudworld_version": __version__, "passed": self.passed,
                "fail_on": self.fail_on, "table": self.table, "counts": self.counts(),
                "findings": [{**row, "evidence": _records(f.evidence)}
                             for row, f in zip(self.findings.to_dict("records"), self.findings_list)]}

    def to_json(self) -> str:
        return json.dumps(_finite(self.to_dict()), indent=2, default=_jsonable, allow_nan=False)

    def to_html(self) -> str:
        """A self-contained HTML page: the summary, each finding with its evidence and figure."""
        from .html import render

        return render(self)


def _records(frame: pd.DataFrame) -> list[dict]:
    if frame.empty:
        return []
    return json.loads(frame.reset_index().to_json(orient="records", date_format="iso", default_handler=str))


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _jsonable(value):
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
        return None if isinstance(value, float) and not np.isfinite(value) else value
    if isinstance(value, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(value).isoformat()
    return str(value)
