"""``fraudworld audit``: the three failures of the lessons, looked for in any training table.

``run(frame, spec)`` checks the table against its spec (:mod:`.spec`: which column is the decision
time, the label, when each label became known, the features and when each became available), then
runs every check of the three families and returns a :class:`~.findings.Report`:

* :mod:`.time_travel` -- values available after the decision, a calendar-date join, immature labels;
* :mod:`.default_signalling` -- a value that stands for "unknown" and carries a different label rate;
* :mod:`.population_shift` -- the mix of segments of unequal risk moving while every marginal stays flat.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import pandas as pd

from . import findings
from .findings import FAIL_ON, SCHEMA_VERSION, SEVERITIES, Finding, Report
from .spec import AuditSpec, SpecError, check_table, load_spec, spec_from_mapping

FAMILIES = tuple(findings.FAMILIES)  # the check modules, in order: one per family


def families() -> list[ModuleType]:
    """The check modules, imported when an audit runs (they import scikit-learn and scipy, which the
    rest of the ``fraudworld`` command does not need)."""
    return [importlib.import_module(f"{__name__}.{name}") for name in FAMILIES]

__all__ = ["AuditSpec", "FAIL_ON", "Finding", "Report", "SCHEMA_VERSION", "SEVERITIES", "SpecError", "load_spec",
           "run", "spec_from_mapping"]


def as_spec(spec: AuditSpec | Mapping | str | Path) -> AuditSpec:
    """A spec given as an :class:`AuditSpec`, a mapping (parsed TOML) or the path of a TOML file."""
    if isinstance(spec, AuditSpec):
        return spec
    if isinstance(spec, Mapping):
        return spec_from_mapping(spec)
    return load_spec(spec)


def run(frame: pd.DataFrame, spec: AuditSpec | Mapping | str | Path, *, fail_on: str = "high",
        progress=None) -> Report:
    """Audit ``frame`` as ``spec`` describes it; ``progress(name)`` is called before each family."""
    table = check_table(frame, as_spec(spec))
    found = []
    for name, family in zip(FAMILIES, families()):
        if progress is not None:
            progress(name)
        found += family.checks(table)
    described = {"rows": len(table.frame), "columns": len(table.frame.columns),
                 "features": [f.name for f in table.features], "roles": table.spec.roles,
                 "extracted_at": table.extracted_at.isoformat()}
    return Report(tuple(found), described, fail_on)
