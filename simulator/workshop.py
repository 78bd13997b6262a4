"""The workshop's student notebooks, generated from the lesson notebooks (the only source).

``python -m simulator.workshop student`` (``make student``) writes
``workshop/student/NN_*.ipynb`` from ``notebooks/NN_*.ipynb``:

* a code cell tagged ``solution`` becomes its stub -- the source in the cell's
  ``metadata["stub"]``: what to compute and the variable the checks read;
* a markdown cell tagged ``solution`` (the worked answer's discussion) is dropped;
* a cell tagged ``check`` (the exercise's automatic feedback) is kept and also
  tagged ``raises-exception``: on the untouched stub it fails with a message
  that says what is missing, and nbval runs the copy to the end regardless.

Everything else is copied as it is, outputs cleared. A check reads only the
stub's variable, so ``exec(stub); exec(check)`` raises (the tests prove it);
with the worked solution it passes (nbval runs the lesson notebooks).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import nbformat
import pandas as pd

from . import paths

SOLUTION, CHECK, RAISES = "solution", "check", "raises-exception"
STUDENT = paths.ROOT / "workshop" / "student"


def expect_frame(value, name: str, *, columns: Sequence, rows: Sequence) -> None:
    """A check's first line: ``value`` (the learner's ``name``) is a DataFrame with these columns
    and rows, else an AssertionError saying what it should be."""
    what = f"`{name}` should be a DataFrame with columns {list(columns)} and rows {list(rows)}"
    if not isinstance(value, pd.DataFrame):
        raise AssertionError(f"{what}; it is {type(value).__name__} -- compute it in the cell above")
    missing = [c for c in columns if c not in value.columns] + [r for r in rows if r not in value.index]
    if missing:
        raise AssertionError(f"{what}; it lacks {missing}")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def student_copy(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of a lesson notebook (see the module docstring)."""
    cells = []
    for i, cell in enumerate(notebook.cells):
        tags = _tags(cell)
        if SOLUTION in tags and cell.cell_type == "markdown":
            continue
        cell = nbformat.from_dict(dict(cell))
        cell.metadata = nbformat.from_dict(dict(cell.metadata))
        if SOLUTION in tags:
            stub = cell.metadata.pop("stub", None)
            if not stub:
                raise ValueError(f"{name}: solution cell {i} has no metadata['stub'] (what the student computes)")
            cell.source = stub
            cell.metadata["tags"] = [t for t in tags if t != SOLUTION] + ["exercise"]
        elif CHECK in tags and RAISES not in tags:
            cell.metadata["tags"] = tags + [RAISES]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
    out = nbformat.from_dict({**notebook, "cells": cells})
    nbformat.validate(out)
    return out


def exercise_notebooks(source: Path = paths.ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks that hold an exercise (a cell tagged ``solution``)."""
    return [p for p in sorted(source.glob("[0-9][0-9]_*.ipynb"))
            if any(SOLUTION in _tags(c) for c in nbformat.read(p, as_version=4).cells)]


def write_student_copies(out: Path = STUDENT, source: Path = paths.ROOT / "notebooks") -> list[Path]:
    """Write every exercise notebook's student copy into ``out``; each file is written whole
    (to a temporary name, then renamed) only after every copy was made."""
    copies = {p.name: student_copy(nbformat.read(p, as_version=4), p.name) for p in exercise_notebooks(source)}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in copies.items():
        tmp = out / f".{name}.partial"
        nbformat.write(nb, tmp)
        tmp.replace(out / name)
        written.append(out / name)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.workshop", description="Workshop material.")
    sub = p.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student notebooks from notebooks/")
    student.add_argument("--out", type=Path, default=STUDENT, help=f"output folder (default: {STUDENT})")
    args = p.parse_args(argv)
    for path in write_student_copies(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
