"""The book (``make book``): built from the lessons, then read in a real browser.

The fast tests check the source ``simulator.book`` prepares (solutions folded, the data contract
extracted from README.md) and that a failing cell fails the build. The browser tests build the
whole book once into a temporary folder (every notebook executed, as ``make book`` does), serve it
on 127.0.0.1 and open every page in Debian's chromium through Playwright: no JavaScript error, every
image loaded, no request leaving 127.0.0.1, the worked solutions hidden until clicked. They skip
when chromium is missing (``apt-get install chromium``), and fail then if
``FRAUDWORLD_REQUIRE_BROWSER=1`` (CI). A screenshot of lesson 01 is saved under
``build/artifacts/`` (or ``$FRAUDWORLD_ARTIFACTS``).
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from simulator import book
from simulator.paths import ROOT
from simulator.workshop import SOLUTION

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("FRAUDWORLD_ARTIFACTS", ROOT / "build" / "artifacts"))
TIMEOUT_MS = 20_000  # any one browser action: a navigation, a wait, a click


def _notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_solutions_are_folded_in_a_copy():
    code = nbformat.v4.new_code_cell("answer = 42", metadata={"tags": [SOLUTION]})
    prose = nbformat.v4.new_markdown_cell("Use ```` ``` ```` fences.", metadata={"tags": [SOLUTION]})
    plain = nbformat.v4.new_code_cell("x = 1")
    original = _notebook(nbformat.v4.new_markdown_cell("# Lesson"), plain, code, prose)
    before = nbformat.writes(original)

    folded = book.fold_solutions(original)

    assert nbformat.writes(original) == before, "the lesson notebook itself was changed"
    assert folded.cells[1] == plain
    assert "hide-cell" in folded.cells[2].metadata["tags"] and folded.cells[2].source == "answer = 42"
    lines = folded.cells[3].source.splitlines()
    assert lines[0].endswith("{dropdown} The worked solution, discussed") and ":class-container: solution" in lines
    fence = lines[0].split("{")[0]
    assert lines[-1] == fence and len(fence) > 4, "the dropdown's fence must be longer than any inside it"
    assert "Use ```` ``` ```` fences." in lines


def test_readme_section_is_a_page_of_its_own():
    readme = "\n".join(["# Project", "## Wanted", "text", "### Detail", "```sh", "## not a heading", "```",
                        "more", "## Next", "not wanted"])
    page = book.readme_section(readme, "Wanted")
    assert page.splitlines() == ["# Wanted", "text", "## Detail", "```sh", "## not a heading", "```", "more"]
    with pytest.raises(ValueError, match="Missing"):
        book.readme_section(readme, "Missing")


def test_the_data_contract_comes_from_the_readme(tmp_path):
    source = book.prepare(tmp_path / "book", lessons=[])
    page = (source / "data_contract.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert page.startswith(f"# {book.CONTRACT}\n")
    body = page.split("\n", 1)[1].strip()
    assert len(body) > 500 and body in readme.replace("\n### ", "\n## ")


def test_the_pages_name_what_exists():
    """Every ``make`` target and repository file the book's own pages mention is there."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(book.PAGES.glob("*.md")))
    targets = set(re.findall(r"\bmake ([a-z][\w-]*)", text))
    files = set(re.findall(r"`((?:requirements|workshop|notebooks)/[\w./-]*)`", text))
    assert targets and files
    missing = {f"make {t}" for t in targets if not re.search(rf"^{re.escape(t)}:", makefile, re.M)}
    missing |= {f for f in files if not (ROOT / f).exists()}
    assert not missing, f"book/*.md mentions what is not there: {sorted(missing)}"


def test_a_failing_cell_fails_the_build(tmp_path, capfd):
    failing = tmp_path / "99_fails.ipynb"
    nbformat.write(_notebook(nbformat.v4.new_markdown_cell("# Fails"),
                             nbformat.v4.new_code_cell("raise RuntimeError('the lesson broke here')")), failing)
    status = book.build(book.prepare(tmp_path / "book", lessons=[failing]))
    output = "".join(capfd.readouterr())
    assert status != 0, "a notebook whose cell raises was published"
    assert "the lesson broke here" in output, "the build failed, but not on the failing cell"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # one line per request would drown the test output
        pass


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, through Playwright (never a downloaded browser)."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("FRAUDWORLD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FRAUDWORLD_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    """The whole book, built afresh and served on 127.0.0.1: (base URL, HTML folder)."""
    source = book.prepare(tmp_path_factory.mktemp("book") / "book")
    assert book.build(source) == 0, "jupyter-book build failed (see the output above)"
    html = source / "_build" / "html"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=html))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", html
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture()
def visit(browser, site):
    """Open a page of the book; returns the page and what went wrong on it (JavaScript errors, and
    requests to another host than 127.0.0.1, which are aborted)."""
    base, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []

    def only_local(route):
        url = route.request.url
        if urlparse(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            problems.append(f"request off the machine: {url}")
            route.abort()

    context.route("**/*", only_local)

    def open_page(relative: str):
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
        page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
        page.on("websocket", lambda ws: problems.append(f"websocket: {ws.url}"))
        page.goto(base + relative, wait_until="load")
        return page

    yield open_page, problems
    context.close()


def _pages(html: Path) -> list[str]:
    """Every page of the site (``_static/`` holds the theme's HTML fragments, not pages)."""
    return sorted(p.relative_to(html).as_posix() for p in html.rglob("*.html")
                  if not p.relative_to(html).parts[0].startswith("_"))


def test_every_page_loads_offline_without_errors(site, visit):
    base, html = site
    open_page, problems = visit
    pages = _pages(html)
    assert {f"notebooks/{p.stem}.html" for p in book.LESSONS} <= set(pages)
    report = {}
    for relative in pages:
        page = open_page(relative)
        if relative == "index.html":  # the entry point: a redirect to the intro page
            page.wait_for_url(f"{base}intro.html")
            page.wait_for_load_state("load")
        page.evaluate("document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })")
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function("[...document.images].every(img => img.complete)")
        broken = page.evaluate("[...document.images].filter(img => img.naturalWidth === 0).map(img => img.src)")
        images = page.evaluate("document.images.length")
        page.close()
        if relative.startswith("notebooks/") and images == 0:
            problems.append("a lesson without a figure")
        problems += [f"image not loaded: {src}" for src in broken]
        if problems:
            report[relative] = list(problems)
        problems.clear()
    assert not report, report


def test_solutions_are_hidden_until_clicked(site, visit):
    open_page, problems = visit
    lessons = [p for p in book.LESSONS
               if any(SOLUTION in c.metadata.get("tags", []) for c in nbformat.read(p, as_version=4).cells)]
    assert lessons, "no lesson has a worked solution"
    for path in lessons:
        cells = [c for c in nbformat.read(path, as_version=4).cells if SOLUTION in c.metadata.get("tags", [])]
        page = open_page(f"notebooks/{path.stem}.html")
        code = page.locator(".cell.tag_solution")
        prose = page.locator("details.solution")
        assert code.count() == sum(c.cell_type == "code" for c in cells), path.name
        assert prose.count() == sum(c.cell_type == "markdown" for c in cells), path.name
        for i in range(code.count()):
            solution = code.nth(i).locator(".cell_input")
            assert solution.is_hidden(), f"{path.name}: a worked solution is shown before its toggle is clicked"
            code.nth(i).locator("summary").click()
            solution.wait_for(state="visible")
        first_line = next(c for c in cells if c.cell_type == "code").source.splitlines()[0]
        assert first_line in code.first.inner_text(), f"{path.name}: the toggle opens something else"
        for i in range(prose.count()):
            discussion = prose.nth(i).locator(".sd-summary-content")
            assert discussion.is_hidden(), f"{path.name}: a discussion is shown before its toggle is clicked"
            prose.nth(i).locator("summary").click()
            discussion.wait_for(state="visible")
            assert discussion.inner_text().strip(), f"{path.name}: the discussion is empty"
        page.close()
        assert not problems, problems


def test_screenshot_of_the_first_lesson(site, visit):
    from PIL import Image

    open_page, problems = visit
    page = open_page("notebooks/01_time_travel.html")
    page.wait_for_function("[...document.images].every(img => img.complete)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "01_time_travel.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.width >= 1280 and image.height > 2000, (image.format, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 100, f"{shot} looks blank: {len(colours)} colours"
    assert not problems, problems
