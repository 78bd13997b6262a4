"""The workshop's material: student notebooks generated from the lesson notebooks (the only
source), and the facilitator's guide generated from the agenda.

``python -m simulator.workshop student`` (``make student``) writes
``workshop/student/NN_*.ipynb`` from ``notebooks/NN_*.ipynb``:

* a code cell tagged ``solution`` becomes its stub -- the source in the cell's
  ``metadata["stub"]``: what to compute and the variable the checks read;
* a markdown cell tagged ``solution`` (the worked answer's discussion) is dropped;
* a cell tagged ``check`` (the exercise's automatic feedback) is kept and also
  tagged ``raises-exception``: on the untouched stub it fails with a message
  that says what is missing, and nbval runs the copy to the end regardless.

Everything else is copied as it is, outputs cleared; two cells go first, for Google Colab
(:class:`Colab`, from the agenda's ``[colab]`` table): one that installs fraudworld when, and only
when, it runs in Colab, and one that checks the installed version is the one the copy was made
for; the title gets an "Open in Colab" badge. A check reads only the
stub's variable, so ``exec(stub); exec(check)`` raises (the tests prove it);
with the worked solution it passes (nbval runs the lesson notebooks).

``python -m simulator.workshop guide`` (``make guide``) writes ``workshop/README.md``
from ``workshop/agenda.toml``: the schedule, and per notebook its objectives, its
"predict, then measure" prompt, its known sticking points and its measured run
time (``benchmarks/results/lessons.json``, written by ``make bench-lessons``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import nbformat
import pandas as pd

from . import __version__, paths

SOLUTION, CHECK, RAISES, COLAB = "solution", "check", "raises-exception", "colab"
WORKSHOP = paths.ROOT / "workshop"
STUDENT = WORKSHOP / "student"
AGENDA = WORKSHOP / "agenda.toml"
TIMINGS = paths.ROOT / "benchmarks" / "results" / "lessons.json"  # make bench-lessons writes it


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


@dataclass(frozen=True)
class Colab:
    """Where Colab opens the student notebooks and installs fraudworld from: a GitHub repository
    (a fork works) and a branch or tag."""

    repository: str
    ref: str = "main"

    def __post_init__(self):
        owner_repo = self.repository.removeprefix("https://github.com/").strip("/").split("/")
        if not self.repository.startswith("https://github.com/") or len(owner_repo) != 2 or not all(owner_repo):
            raise ValueError(f"colab.repository: {self.repository!r} is not allowed; expected "
                             "https://github.com/OWNER/REPO")
        if not self.ref or any(c.isspace() for c in self.ref):
            raise ValueError(f"colab.ref: {self.ref!r} is not allowed; expected a branch or tag name")

    def badge(self, path: str) -> str:
        """Markdown for an "Open in Colab" badge launching ``path`` (relative to the repository)."""
        slug = self.repository.removeprefix("https://github.com/").strip("/")
        return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                f"(https://colab.research.google.com/github/{slug}/blob/{self.ref}/{path})")

    def setup_cells(self) -> list[nbformat.NotebookNode]:
        """Install fraudworld in Colab only (elsewhere ``make workshop-env`` did), then check its version."""
        install = (
            "# In Google Colab, and only there, install fraudworld (on a laptop, `make workshop-env` did).\n"
            "import os\nimport subprocess\nimport sys\n\n"
            "if \"google.colab\" in sys.modules:\n"
            f"    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\",\n"
            f"                    \"fraudworld @ git+{self.repository.rstrip('/')}@{self.ref}\"], check=True)\n"
            "    os.environ.setdefault(\"FRAUDWORLD_DATA\", \"/content/fraudworld-data\")  # the world cache")
        check = (
            "import simulator\n\n"
            f"assert simulator.__version__ == \"{__version__}\", (\n"
            f"    f\"this notebook was made for fraudworld {__version__}, but {{simulator.__version__}} is installed: \"\n"
            "    \"run `make workshop-env` (in Colab: Runtime > Restart session, then run all)\")")
        return [nbformat.v4.new_code_cell(install, id="colab-install", metadata={"tags": [COLAB]}),
                nbformat.v4.new_code_cell(check, id="colab-version", metadata={"tags": [COLAB]})]


def student_copy(notebook: nbformat.NotebookNode, name: str = "notebook",
                 colab: Colab | None = None) -> nbformat.NotebookNode:
    """The student version of a lesson notebook (see the module docstring); with ``colab``, its
    Colab setup cells first and a launch badge under the title."""
    cells = colab.setup_cells() if colab else []
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
        if colab and i == 0 and cell.cell_type == "markdown":
            title, _, rest = cell.source.partition("\n")
            cell.source = f"{title}\n\n{colab.badge(f'workshop/student/{name}')}\n{rest}"
        cells.append(cell)
    out = nbformat.from_dict({**notebook, "cells": cells})
    nbformat.validate(out)
    return out


def exercise_notebooks(source: Path = paths.ROOT / "notebooks") -> list[Path]:
    """The lesson notebooks that hold an exercise (a cell tagged ``solution``)."""
    return [p for p in sorted(source.glob("[0-9][0-9]_*.ipynb"))
            if any(SOLUTION in _tags(c) for c in nbformat.read(p, as_version=4).cells)]


def write_student_copies(out: Path = STUDENT, source: Path = paths.ROOT / "notebooks",
                         agenda: Path = AGENDA) -> list[Path]:
    """Write every exercise notebook's student copy into ``out``, with the agenda's Colab setup;
    each file is written whole (to a temporary name, then renamed) only after every copy was made."""
    colab = load_agenda(agenda).colab
    copies = {p.name: student_copy(nbformat.read(p, as_version=4), p.name, colab) for p in exercise_notebooks(source)}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, nb in copies.items():
        tmp = out / f".{name}.partial"
        nbformat.write(nb, tmp)
        tmp.replace(out / name)
        written.append(out / name)
    return written


@dataclass(frozen=True)
class Slot:
    """One agenda slot: a notebook (teaching and exercise minutes) or a break."""

    notebook: str | None
    teach: int = 0
    exercise: int = 0
    break_minutes: int = 0
    objectives: tuple[str, ...] = ()
    prompt: str = ""
    sticking_points: tuple[str, ...] = ()

    @property
    def minutes(self) -> int:
        return self.teach + self.exercise + self.break_minutes


@dataclass(frozen=True)
class Agenda:
    title: str
    minutes: int
    teaching_budget: int
    slots: tuple[Slot, ...]
    colab: Colab

    @property
    def sessions(self) -> list[Slot]:
        return [s for s in self.slots if s.notebook is not None]


def _minutes(entry: dict, key: str, where: str) -> int:
    value = entry.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{where}.{key}: {value!r} is not allowed; expected whole minutes >= 0")
    return value


def load_agenda(path: Path = AGENDA) -> Agenda:
    """The agenda in ``path``, checked: every field named when it is wrong."""
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    slots = []
    for i, entry in enumerate(data.get("slot", [])):
        where = f"{Path(path).name}: slot {i + 1}"
        unknown = sorted(set(entry) - set(Slot.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{where}: unknown fields {unknown}; allowed: {sorted(Slot.__dataclass_fields__)}")
        if ("notebook" in entry) == ("break_minutes" in entry):
            raise ValueError(f"{where}: give either notebook (with teach and exercise) or break_minutes")
        slots.append(Slot(entry.get("notebook"), _minutes(entry, "teach", where), _minutes(entry, "exercise", where),
                          _minutes(entry, "break_minutes", where), tuple(entry.get("objectives", ())),
                          entry.get("prompt", ""), tuple(entry.get("sticking_points", ()))))
    for key in ("title", "minutes", "teaching_budget", "colab"):
        if key not in data:
            raise ValueError(f"{Path(path).name}: {key} is missing")
    colab = data["colab"]
    unknown = sorted(set(colab) - set(Colab.__dataclass_fields__)) if isinstance(colab, dict) else ["(not a table)"]
    if unknown:
        raise ValueError(f"{Path(path).name}: colab: unknown fields {unknown}; allowed: repository, ref")
    try:
        colab = Colab(**colab)
    except TypeError:
        raise ValueError(f"{Path(path).name}: colab.repository is missing") from None
    return Agenda(data["title"], _minutes(data, "minutes", Path(path).name),
                  _minutes(data, "teaching_budget", Path(path).name), tuple(slots), colab)


def measured_seconds(path: Path = TIMINGS) -> dict[str, float]:
    """Each notebook's whole-process run time under nbval, from the lesson benchmark's JSON."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    return {Path(r["notebook"]).stem: float(r["seconds"]) for r in report["notebooks"]}


def guide_markdown(agenda: Agenda, seconds: dict[str, float]) -> str:
    """The facilitator's guide: the schedule, then per notebook what it teaches and where it sticks."""
    lines = [f"# {agenda.title}", "", "Generated from `workshop/agenda.toml` by `make guide`; do not edit.", "",
             "Participants open the notebooks in `workshop/student/` (the exercises' solutions replaced by stubs, "
             "each followed by a check cell); the worked solutions are in `notebooks/`, in the cells tagged "
             "`solution`.", "",
             "**Homework before the day:** `make workshop-env` -- it installs the exact versions CI tested "
             "(`requirements/workshop.txt`; without make: `pip install -r requirements/workshop.txt && pip install "
             "--no-deps -e .`) and runs `fraudworld doctor`, which checks the Python, the packages, the Jupyter "
             "kernel, `OMP_NUM_THREADS`, disk and memory, generates the notebooks' world into the cache, and "
             "prints what to fix. Everything it marks `FAIL` must be fixed before the day. Without a working "
             "laptop, a participant opens a student notebook in Google Colab from the badge at its top.", "", "## Schedule", "",
             "| start | slot | teach | exercise | notebook runs in |", "|---:|---|---:|---:|---:|"]
    clock = 0
    for slot in agenda.slots:
        if slot.notebook is None:
            lines.append(f"| {clock // 60}:{clock % 60:02d} | break | | | |")
        else:
            run = seconds.get(slot.notebook)
            lines.append(f"| {clock // 60}:{clock % 60:02d} | `{slot.notebook}` | {slot.teach} min | "
                         f"{slot.exercise} min | {'' if run is None else f'{run:.0f} s'} |")
        clock += slot.minutes
    taught = sum(s.teach + s.exercise for s in agenda.sessions)
    lines += ["", f"Teaching and exercises: {taught} of {agenda.minutes} minutes (budget {agenda.teaching_budget}); "
              f"breaks {sum(s.break_minutes for s in agenda.slots)}. Run times are whole-process seconds under nbval "
              "on a cold results cache, on a 2-core machine (`make bench-lessons`).", ""]
    for slot in agenda.sessions:
        lines += [f"## `{slot.notebook}`", "", "**Objectives**", ""] + [f"- {o}" for o in slot.objectives] + [""]
        if slot.prompt:
            lines += [f"**Predict, then measure:** {slot.prompt}", ""]
        if slot.sticking_points:
            lines += ["**Known sticking points**", ""] + [f"- {p}" for p in slot.sticking_points] + [""]
    return "\n".join(lines)


def write_guide(out: Path = WORKSHOP / "README.md", agenda: Path = AGENDA, timings: Path = TIMINGS) -> Path:
    """Write the facilitator's guide, whole (a temporary name, then renamed)."""
    text = guide_markdown(load_agenda(agenda), measured_seconds(timings))
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.workshop", description="Workshop material.")
    sub = p.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write the student notebooks from notebooks/")
    student.add_argument("--out", type=Path, default=STUDENT, help=f"output folder (default: {STUDENT})")
    guide = sub.add_parser("guide", help="write the facilitator's guide from the agenda")
    guide.add_argument("--out", type=Path, default=WORKSHOP / "README.md", help="output file")
    args = p.parse_args(argv)
    if args.command == "student":
        for path in write_student_copies(args.out):
            print(path)
    else:
        print(write_guide(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
