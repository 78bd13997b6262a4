"""The student notebooks: generated from the lesson notebooks, kept in sync, and their checks fail
on the untouched stubs with a message that says what is missing.

nbval runs the committed student copies (``workshop/student`` is a test path) with their check
cells tagged ``raises-exception``; the lesson notebooks, where the same checks follow the worked
solutions, run with every cell expected to pass.
"""

from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest

from simulator import workshop
from simulator.paths import ROOT

EXERCISES = workshop.exercise_notebooks()
COLAB = workshop.Colab("https://github.com/someone/fraudworld-fork", "workshop-2026")


def cells_tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def test_every_lesson_notebook_has_an_exercise_with_a_check():
    assert [p.name[:2] for p in EXERCISES] == ["01", "02", "03", "04"]
    for path in EXERCISES:
        nb = nbformat.read(path, as_version=4)
        assert cells_tagged(nb, workshop.CHECK), f"{path.name}: no cell tagged 'check'"
        assert all(c.metadata.get("stub") for c in cells_tagged(nb, workshop.SOLUTION) if c.cell_type == "code")


def test_the_committed_student_copies_are_what_the_lesson_notebooks_generate(tmp_path):
    written = workshop.write_student_copies(tmp_path)
    committed = sorted(p.name for p in workshop.STUDENT.glob("*.ipynb"))
    assert committed == [p.name for p in written], "run `make student` and commit workshop/student/"
    for path in written:
        fresh = json.loads(path.read_text())
        stored = json.loads((workshop.STUDENT / path.name).read_text())
        assert fresh == stored, f"workshop/student/{path.name} drifted from notebooks/; run `make student` and commit it"


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_a_student_copy_hides_the_solutions_and_keeps_the_checks(path):
    lesson = nbformat.read(path, as_version=4)
    student = workshop.student_copy(lesson, path.name, COLAB)
    text = "\n".join(c.source for c in student.cells)
    for cell in cells_tagged(lesson, workshop.SOLUTION):
        assert cell.source not in text, f"{path.name}: a solution survived in the student copy"
    checks = cells_tagged(student, workshop.CHECK)
    assert checks and all(workshop.RAISES in c.metadata["tags"] for c in checks)
    assert len(student.cells) == len(lesson.cells) + 2 - sum(
        c.cell_type == "markdown" for c in cells_tagged(lesson, workshop.SOLUTION))
    assert [c.metadata["tags"] for c in student.cells[:2]] == [[workshop.COLAB]] * 2


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_each_check_fails_on_the_untouched_stub_saying_what_to_compute(path):
    student = workshop.student_copy(nbformat.read(path, as_version=4), path.name)
    stubs, checks = cells_tagged(student, "exercise"), cells_tagged(student, workshop.CHECK)
    assert stubs and checks
    namespace: dict = {}
    for stub in stubs:
        exec(compile(stub.source, f"{path.name} stub", "exec"), namespace)
    for check in checks:
        with pytest.raises(AssertionError, match=r"should be a DataFrame with columns .* compute it"):
            exec(compile(check.source, f"{path.name} check", "exec"), dict(namespace))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_each_check_explains_a_well_shaped_but_wrong_answer(path, monkeypatch):
    """A frame of the right shape whose numbers are all equal passes the shape test and fails a
    comparison -- with a message that gives the numbers and a hint, not a bare AssertionError."""
    student = workshop.student_copy(nbformat.read(path, as_version=4), path.name)
    for check in cells_tagged(student, workshop.CHECK):
        shapes = []
        monkeypatch.setattr(workshop, "expect_frame", lambda value, name, *, columns, rows: shapes.append(
            (name, columns, rows)) or pytest.fail("shape recorded"))
        (variable,) = re.findall(r"expect_frame\((\w+),", check.source)
        with pytest.raises(pytest.fail.Exception):
            exec(compile(check.source, f"{path.name} check", "exec"), {variable: None})
        monkeypatch.undo()
        ((name, columns, rows),) = shapes
        flat = pd.DataFrame(1.0, index=list(rows), columns=list(columns))
        with pytest.raises(AssertionError) as failed:
            exec(compile(check.source, f"{path.name} check", "exec"), {name: flat})
        assert len(str(failed.value)) > 40 and re.search(r"\d", str(failed.value)), str(failed.value)


def test_expect_frame_names_what_is_missing():
    frame = pd.DataFrame({"a": [1.0]}, index=["x"])
    workshop.expect_frame(frame, "answer", columns=["a"], rows=["x"])
    with pytest.raises(AssertionError, match=r"`answer` should be a DataFrame .* it lacks \['b', 'y'\]"):
        workshop.expect_frame(frame, "answer", columns=["a", "b"], rows=["x", "y"])
    with pytest.raises(AssertionError, match="it is NoneType"):
        workshop.expect_frame(None, "answer", columns=["a"], rows=["x"])


def test_a_solution_without_a_stub_is_refused_naming_the_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]})])
    with pytest.raises(ValueError, match="lesson.ipynb: solution cell 0 has no metadata\\['stub'\\]"):
        workshop.student_copy(nb, "lesson.ipynb")


def test_student_copies_live_where_the_readme_says(tmp_path):
    assert workshop.STUDENT == ROOT / "workshop" / "student"
    assert workshop.main(["student", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in EXERCISES], "no partial files left"


# --- Colab -----------------------------------------------------------------------------------------

def run_setup(cells, monkeypatch, *, in_colab: bool) -> list:
    """Run the Colab setup cells as a kernel would; return the commands they ran."""
    import subprocess
    import sys
    import types

    ran = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: ran.append(cmd))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setenv("FRAUDWORLD_DATA", "unset")  # recorded, so the cell's setdefault is undone after the test
    monkeypatch.delenv("FRAUDWORLD_DATA")
    for cell in cells:
        exec(compile(cell.source, "colab cell", "exec"), {})
    return ran


def test_the_colab_cell_installs_only_in_colab_from_the_agenda_s_repository(monkeypatch):
    import os

    assert run_setup(COLAB.setup_cells(), monkeypatch, in_colab=False) == []
    assert "FRAUDWORLD_DATA" not in os.environ
    (cmd,) = run_setup(COLAB.setup_cells(), monkeypatch, in_colab=True)
    assert cmd[-1] == "fraudworld @ git+https://github.com/someone/fraudworld-fork@workshop-2026"
    assert cmd[1:4] == ["-m", "pip", "install"]
    assert os.environ["FRAUDWORLD_DATA"].startswith("/content/"), "the world cache outside site-packages"


def test_the_version_check_stops_a_notebook_made_for_another_release(monkeypatch):
    import simulator

    monkeypatch.setattr(simulator, "__version__", "0.0.1")
    with pytest.raises(AssertionError, match="made for fraudworld .* but 0.0.1 is installed: run `make workshop-env`"):
        run_setup(COLAB.setup_cells(), monkeypatch, in_colab=False)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_each_student_copy_starts_with_the_colab_setup_and_a_badge_to_itself(path):
    colab = workshop.load_agenda().colab
    student = nbformat.read(workshop.STUDENT / path.name, as_version=4)
    assert [c.id for c in student.cells[:2]] == ["colab-install", "colab-version"]
    assert colab.badge(f"workshop/student/{path.name}") in student.cells[2].source
    assert f"/blob/{colab.ref}/workshop/student/{path.name})" in student.cells[2].source


@pytest.mark.parametrize("table, message", [
    ('repository = "https://gitlab.com/a/b"', r"colab.repository: 'https://gitlab.com/a/b' is not allowed"),
    ('repository = "https://github.com/a"', r"colab.repository: .* expected https://github.com/OWNER/REPO"),
    ('repository = "https://github.com/a/b"\nref = "my branch"', r"colab.ref: 'my branch' is not allowed"),
    ('repository = "https://github.com/a/b"\nbranch = "x"', r"colab: unknown fields \['branch'\]"),
    ('ref = "main"', r"colab.repository is missing"),
])
def test_a_bad_colab_table_is_refused_naming_the_field(tmp_path, table, message):
    path = tmp_path / "agenda.toml"
    path.write_text(f'title = "t"\nminutes = 180\nteaching_budget = 150\n[colab]\n{table}\n')
    with pytest.raises(ValueError, match=message):
        workshop.load_agenda(path)


# --- the agenda and the facilitator's guide -------------------------------------------------------

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_agenda_lists_exactly_the_notebooks_in_order_and_fits_the_day():
    agenda = workshop.load_agenda()
    assert [s.notebook for s in agenda.sessions] == NOTEBOOKS
    taught = sum(s.teach + s.exercise for s in agenda.sessions)
    assert taught <= agenda.teaching_budget == 150, f"teaching and exercises take {taught} minutes"
    assert sum(s.minutes for s in agenda.slots) <= agenda.minutes == 180
    for s in agenda.sessions:
        assert s.objectives, f"{s.notebook}: no learning objectives"
        assert s.prompt or not s.exercise, f"{s.notebook}: an exercise without its 'predict, then measure' prompt"


def test_each_notebook_runs_well_inside_its_slot():
    """Measured by the lesson benchmark: a cold-cache run takes at most a quarter of its slot."""
    seconds = workshop.measured_seconds()
    for s in workshop.load_agenda().sessions:
        assert s.notebook in seconds, f"{s.notebook}: no measured run time; run `make bench-lessons`"
        assert seconds[s.notebook] <= (s.teach + s.exercise) * 60 / 4, (s.notebook, seconds[s.notebook])


def test_the_committed_guide_is_what_the_agenda_generates(tmp_path):
    fresh = workshop.write_guide(tmp_path / "README.md")
    assert fresh.read_text() == (workshop.WORKSHOP / "README.md").read_text(), (
        "workshop/README.md drifted from workshop/agenda.toml; run `make guide` and commit it")
    text = fresh.read_text()
    assert all(f"`{name}`" in text for name in NOTEBOOKS) and "workshop/student/" in text
    assert "`make workshop-env`" in text and "`fraudworld doctor`" in text, "the homework line"


@pytest.mark.parametrize("bad, message", [
    ('[[slot]]\nnotebook = "01"\nteach = -5\n', r"slot 1\.teach: -5 is not allowed; expected whole minutes >= 0"),
    ('[[slot]]\nnotebook = "01"\nminutes = 5\n', r"slot 1: unknown fields \['minutes'\]; allowed: .*teach"),
    ('[[slot]]\nnotebook = "01"\nbreak_minutes = 5\n', r"slot 1: give either notebook .* or break_minutes"),
    ('[[slot]]\nbreak_minutes = 10\n', r"agenda.toml: title is missing"),
])
def test_a_bad_agenda_is_refused_naming_the_field(tmp_path, bad, message):
    path = tmp_path / "agenda.toml"
    path.write_text(bad)
    with pytest.raises(ValueError, match=message):
        workshop.load_agenda(path)


def test_the_readme_sends_participants_and_facilitators_to_their_material():
    readme = (ROOT / "README.md").read_text()
    assert "workshop/student/" in readme and "workshop/README.md" in readme
