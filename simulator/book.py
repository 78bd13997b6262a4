"""The fraudworld book: a static HTML site of the lessons, built with Jupyter Book 1.

``python -m simulator.book`` (``make book``) writes the book's source into ``build/book/`` --
the configuration and pages in ``book/``, the workshop guide ``workshop/README.md``, "The data
contract" section of ``README.md`` (extracted at every build, so it cannot drift) and a copy of
each lesson notebook -- then runs ``jupyter-book build`` on it, which executes every notebook
afresh on the cached default world (``data/``, or ``$FRAUDWORLD_DATA``) and writes the site to
``build/book/_build/html/``. It exits non-zero when the build fails, a failing cell included.

In the copies the exercises' worked solutions (cells tagged ``solution``) are folded away: a code
cell gets the ``hide-cell`` tag, a markdown cell is wrapped in a dropdown with the CSS class
``solution``. ``notebooks/`` itself is never written.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

import nbformat
import yaml

from . import paths
from .workshop import SOLUTION

PAGES = paths.ROOT / "book"
LESSONS = sorted((paths.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OUT = paths.ROOT / "build" / "book"
CONTRACT = "The data contract"


def readme_section(markdown: str, heading: str) -> str:
    """The ``## heading`` section of a markdown text, as a page: its heading becomes the title and
    every heading under it moves up a level (lines inside code fences are left alone)."""
    lines = markdown.splitlines()
    try:
        start = lines.index(f"## {heading}")
    except ValueError:
        raise ValueError(f"no section '## {heading}' in the text") from None
    page, fenced = [f"# {heading}"], False
    for line in lines[start + 1:]:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            break
        elif not fenced and line.startswith("###"):
            line = line[1:]
        page.append(line)
    return "\n".join(page).rstrip() + "\n"


def fold_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose ``solution`` cells are hidden until the reader opens them."""
    out = copy.deepcopy(notebook)
    for cell in out.cells:
        tags = cell.metadata.get("tags", [])
        if SOLUTION not in tags:
            continue
        if cell.cell_type == "code":
            cell.metadata["tags"] = tags + ["hide-cell"]
            cell.metadata["mystnb"] = {"code_prompt_show": "Show the worked solution",
                                       "code_prompt_hide": "Hide the worked solution"}
        else:
            fence = "`" * max(3, 1 + max(map(len, re.findall("`+", cell.source)), default=0))
            cell.source = (f"{fence}{{dropdown}} The worked solution, discussed\n:class-container: solution\n\n"
                           f"{cell.source}\n{fence}")
    return out


def prepare(out: Path = OUT, lessons: Sequence[Path] = LESSONS) -> Path:
    """Write the book's source into ``out`` (replacing an earlier one) and return it."""
    if out.exists():
        if not (out / "_config.yml").is_file():
            raise FileExistsError(f"{out} exists and is not a book source; not replacing it")
        shutil.rmtree(out)
    shutil.copytree(PAGES, out)
    shutil.copy(paths.ROOT / "workshop" / "README.md", out / "workshop.md")
    contract = readme_section((paths.ROOT / "README.md").read_text(encoding="utf-8"), CONTRACT)
    (out / "data_contract.md").write_text(contract, encoding="utf-8")
    (out / "notebooks").mkdir()
    for path in lessons:
        nbformat.write(fold_solutions(nbformat.read(path, as_version=4)), out / "notebooks" / path.name)
    toc = {"format": "jb-book", "root": "intro", "parts": [
        {"caption": "Lessons", "chapters": [{"file": f"notebooks/{p.stem}"} for p in lessons]},
        {"caption": "Workshop", "chapters": [{"file": "setup"}, {"file": "workshop", "title": "Agenda and guide"}]},
        {"caption": "Reference", "chapters": [{"file": "data_contract"}]}]}
    (out / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    return out


def build(source: Path = OUT) -> int:
    """Run ``jupyter-book build`` on ``source``; its exit status."""
    env = dict(os.environ)
    for name in ("FRAUDWORLD_DATA", "FRAUDWORLD_RESULTS"):  # the notebooks run from another folder
        if name in env:
            env[name] = str(Path(env[name]).resolve())
    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(source)]
    return subprocess.run(command, env=env).returncode


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m simulator.book", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"the book's source folder (default: {OUT})")
    args = p.parse_args(argv)
    return build(prepare(args.out))


if __name__ == "__main__":
    sys.exit(main())
