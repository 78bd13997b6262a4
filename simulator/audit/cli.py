"""``fraudworld audit TABLE --spec SPEC.toml --out DIR``: the audit of a training table, as a command.

It reads TABLE (Parquet or CSV, any column names; a CSV's times are read as text and parsed by the
spec's checks), audits it as the spec describes it (:func:`simulator.audit.run`, the Python API
twin), writes ``report.html``, ``summary.md`` and ``report.json`` into DIR -- atomically, as
``fraudworld generate`` writes a world: into a hidden temporary directory beside DIR, renamed at
the end, so that a failed or interrupted audit leaves nothing at DIR -- and prints the Markdown
summary to stdout (ready for a pull-request comment). Progress goes to stderr.

Exit codes: 0 nothing at or above ``--fail-on``; 1 a finding at or above it; 2 the audit could not
run (bad arguments, a bad spec, a column missing or of the wrong type, an unparsable time, an
unreadable table, an output directory that is not empty without ``--force``, a failure writing
it), with a message naming the field and what is allowed, and nothing written; also 2, with
"internal error (please report it)" and nothing written, for an unexpected exception (a bug, never
a finding); 130 interrupted.

:func:`audit_file` is the same, raising instead of printing, for scripts and benchmarks.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

import pandas as pd

from .. import audit
from ..storage import OutputExistsError, atomic_directory, check_output
from .findings import FAIL_ON, Report
from .spec import AuditSpec, SpecError, load_spec

PROG = "fraudworld audit"
TABLE_FORMATS = {".parquet": "Parquet", ".csv": "CSV"}
ALLOWED_TABLES = "a Parquet file (.parquet) or a CSV file (.csv)"
OUTPUTS = ("report.html", "summary.md", "report.json")
LARGE_TABLE_BYTES = 8 * 2**20  # from this file size on, a progress bar on stderr

DESCRIPTION = (
    "Audit a training table for the three failures the lessons teach: time travel (values known only "
    "after the decision, immature labels), default signalling (a fill value that stands for "
    "'unknown' and carries its own label rate) and population shift (segments of unequal risk whose "
    "mix moves while every marginal stays flat).",
    "TABLE is a Parquet or CSV file with any column names; SPEC.toml says which column plays which "
    "part. The audit writes report.html (self-contained: opens with no network), summary.md and "
    "report.json into DIR (atomically: a hidden temporary directory beside DIR, renamed at the end), "
    "and prints the Markdown summary. In Python: simulator.audit.run(frame, spec).",
)
EPILOG = """\
a spec (TOML; the columns are yours -- every field is described in
simulator/audit/spec.py):
  decision_time = "scored_at"         # when each prediction was made
  label = "churned"                   # 0/1 or true/false, as known at extraction
  label_known_at = "churn_logged_at"  # optional: when each positive became known
  extracted_at = 2026-04-05T00:00:00  # optional: when the table was pulled
  segments = ["plan"]                 # optional: who each row belongs to
  [features.tenure_days]
  [features.logins_7d]
  available_at = "snapshot_at"        # when that value became available
  defaults = [-1]                     # values that stand for "unknown"

examples:
  fraudworld audit train.parquet --spec audit.toml --out report
  fraudworld audit train.csv --spec audit.toml --out report --fail-on medium --force
  fraudworld audit train.parquet --spec audit.toml --out report > comment.md

exit codes:
  0    passed: no finding at or above --fail-on (the reports are written)
  1    failed: a finding at or above --fail-on (the reports are written)
  2    the audit could not run: bad arguments, a missing or invalid spec, a
       column missing or of the wrong type, an unparsable or time-zoned time, an
       unreadable table, a non-empty DIR without --force, or a failure writing
       DIR; the message names the field and what is allowed; nothing is written
       (also 2 for an internal error, a bug to report: never a finding)
  130  interrupted; nothing is written"""


class TableError(SpecError):
    """The table file cannot be read: a missing file, an unknown suffix, a corrupt file."""


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at ``path``: Parquet (via pyarrow; a named index saved with it becomes a column
    again) or CSV (via pandas; times stay text, parsed later by the spec's checks)."""
    path = Path(path)
    kind = TABLE_FORMATS.get(path.suffix.lower())
    if kind is None:
        suffix = f"suffix {path.suffix!r}" if path.suffix else "no suffix"
        raise TableError(f"table: {str(path)!r} has {suffix}; expected {ALLOWED_TABLES}")
    if not path.exists():
        raise TableError(f"table: {str(path)!r} does not exist; expected {ALLOWED_TABLES}")
    if not path.is_file():
        raise TableError(f"table: {str(path)!r} is not a file; expected {ALLOWED_TABLES}")
    try:
        if kind == "Parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                frame = pq.read_table(path).to_pandas()
            except pa.ArrowException as exc:
                raise ValueError(str(exc)) from None
            # a frame saved with its index: a named index (an id) is a column again, a plain one is dropped
            named = any(name is not None for name in frame.index.names)
            return frame.reset_index(drop=not named)
        return pd.read_csv(path, low_memory=False, encoding="utf-8-sig")  # -sig: a spreadsheet's byte-order mark
    except (ValueError, OSError) as exc:  # corrupt, truncated, not text, permissions
        text = (getattr(exc, "strerror", None) or str(exc)).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise TableError(f"table: cannot read {str(path)!r} as {kind} ({reason}); expected {ALLOWED_TABLES}") \
            from None


def _spec(path: str | Path) -> AuditSpec:
    try:
        return load_spec(path)
    except SpecError as exc:
        message = str(exc)
        raise SpecError(message if message.startswith("spec:") else f"spec {str(path)!r}: {message}") from None


def _check_out(out: Path, inputs: dict[str, Path], force: bool) -> None:
    """Refuse an output directory that holds an input (``--force`` would delete it) or is not empty."""
    target = out.resolve()
    for what, path in {**inputs, "the current directory": Path.cwd()}.items():
        resolved = path.resolve()
        if resolved == target or target in resolved.parents:
            raise OutputExistsError(f"out: {str(out)!r} is or holds {what}; replacing it would delete that -- "
                                    "choose a new directory for the report")
    check_output(out, force)


def _refuse_unreadable(path: Path) -> None:
    """Refuse a table of an unknown kind, or a missing one, before any other work."""
    if path.suffix.lower() not in TABLE_FORMATS or not path.is_file():
        read_table(path)  # raises the message that says why


def family_names() -> list[str]:
    return list(audit.FAMILIES)


class Progress:
    """A tqdm bar on stderr over the steps of an audit: reading, each family, the report.

    Called with a step's name as it starts (``run`` calls it before each family)."""

    def __init__(self, steps: list[str], enabled: bool):
        self.started = False
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=len(steps), file=sys.stderr, unit="step", desc="audit", mininterval=0,
                            bar_format="{desc}: {n_fmt}/{total_fmt} steps |{bar:24}| {elapsed}", dynamic_ncols=True)

    def __call__(self, name: str) -> None:
        if self.bar is None:
            return
        self.bar.set_description_str(f"audit: {name}", refresh=False)
        if self.started:
            self.bar.update(1)
        else:
            self.bar.refresh()
        self.started = True

    def close(self, done: bool) -> None:
        if self.bar is None:
            return
        if done:
            self.bar.set_description_str("audit: done", refresh=False)
            self.bar.update(self.bar.total - self.bar.n)
        self.bar.close()


def audit_file(table: str | Path, spec: str | Path, out: str | Path, *, fail_on: str = "high",
               force: bool = False, progress: bool | None = None) -> Report:
    """Audit the table file at ``table`` as the TOML ``spec`` describes it; write the reports into
    ``out`` atomically; return the :class:`~simulator.audit.Report`.

    ``progress``: a bar on stderr (default: when the table file is at least
    :data:`LARGE_TABLE_BYTES`). Raises :class:`~simulator.audit.SpecError` (a bad spec, or a table
    that does not fit it; :class:`TableError` for an unreadable table),
    :class:`~simulator.storage.OutputExistsError` or :class:`OSError`, with nothing written."""
    if fail_on not in FAIL_ON:
        raise SpecError(f"fail_on: {fail_on!r} is not allowed; expected one of {', '.join(FAIL_ON)}")
    table, spec, out = Path(table), Path(spec), Path(out)
    checked = _spec(spec)
    _refuse_unreadable(table)
    _check_out(out, {"the table": table, "the spec": spec}, force)  # fail before the work, not after it
    if progress is None:
        progress = table.is_file() and table.stat().st_size >= LARGE_TABLE_BYTES
    steps = Progress(["reading", *family_names(), "report"], bool(progress))
    done = False
    try:
        steps("reading")
        frame = read_table(table)
        report = audit.run(frame, checked, fail_on=fail_on, progress=steps)
        del frame
        steps("report")  # the HTML's figures are drawn here
        texts = {"report.html": report.to_html(), "summary.md": report.to_markdown(),
                 "report.json": report.to_json() + "\n"}
        with atomic_directory(out, force=force) as tmp:
            for name in OUTPUTS:
                (tmp / name).write_text(texts[name], encoding="utf-8")
        done = True
    finally:
        steps.close(done)
    return report


# --- the subcommand -----------------------------------------------------------------------------

def add_parser(commands, width: int = 78) -> argparse.ArgumentParser:
    """Register ``audit`` on ``commands`` (the ``add_subparsers`` of the ``fraudworld`` parser)."""
    description = "\n\n".join(textwrap.fill(p, width, break_on_hyphens=False) for p in DESCRIPTION)
    parser = commands.add_parser("audit", help="audit a training table for time travel, default signalling "
                                               "and population shift",
                                 description=description, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("table", metavar="TABLE", help=f"the training table: {ALLOWED_TABLES}")
    parser.add_argument("--spec", required=True, metavar="SPEC.toml",
                        help="the TOML file that says which column is the decision time, the label, the features...")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="the directory to write report.html, summary.md and report.json into (must not "
                             "exist or be empty, unless --force)")
    parser.add_argument("--fail-on", default="high", choices=FAIL_ON, metavar="|".join(FAIL_ON),
                        help="the severity that fails the audit (exit 1): high, medium (or high), or never "
                             "(default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists and is not empty")
    parser.set_defaults(run=command)
    return parser


def command(args: argparse.Namespace) -> int:
    """Run ``fraudworld audit`` with parsed ``args``; return the exit code."""
    try:
        report = audit_file(args.table, args.spec, args.out, fail_on=args.fail_on, force=args.force)
    except (SpecError, OutputExistsError) as exc:
        return error(str(exc), 2)
    except OSError as exc:  # writing DIR: permissions, disk full
        return error(f"out: cannot write {str(args.out)!r} ({exc.strerror or exc}); nothing was written", 2)
    except KeyboardInterrupt:
        return error(f"interrupted; nothing was written to {str(args.out)!r}", 130)
    except Exception as exc:  # a bug: exit 1 would read as a finding at --fail-on
        return error(f"internal error (please report it): {type(exc).__name__}: {exc}", 2)
    sys.stdout.write(report.to_markdown())
    verdict = "passed" if report.passed else f"failed at --fail-on {report.fail_on}"
    print(f"{PROG}: {verdict}; wrote {', '.join(OUTPUTS)} to {args.out}", file=sys.stderr)
    return 0 if report.passed else 1


def error(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code
