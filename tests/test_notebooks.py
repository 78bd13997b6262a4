"""The notebooks' outputs policy: stored without outputs and with null execution counts.

A notebook in git is source, not a report: outputs would go stale the moment
the world or a plot changes, and they bloat every diff. Running the notebooks
is nbval's job (``pytest --nbval-lax notebooks/``; their ``assert`` cells are
the checkpoints); this test only keeps what is committed clean. To strip a
notebook: ``jupyter nbconvert --clear-output --inplace notebooks/NN_name.ipynb``.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from simulator.paths import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks under {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them with "
                       f"'jupyter nbconvert --clear-output --inplace {path.relative_to(ROOT)}'")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_named_by_number_and_topic(path: Path):
    assert path.stem[:3].rstrip("_").isdigit() and path.stem[2] == "_", (
        f"{path.name}: notebooks are named NN_topic.ipynb")
