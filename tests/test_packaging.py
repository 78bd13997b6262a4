"""environment.yml mirrors pyproject.toml: the same packages, the same lower bounds.

Conda is not needed: environment.yml is read by a tiny parser for the small
subset of YAML it uses (checked against PyYAML where that happens to be
installed), pyproject.toml by :mod:`tomllib`, and requirements are compared as
:class:`packaging.specifiers.SpecifierSet` objects (``packaging`` comes with pytest).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
ENVIRONMENT = ROOT / "environment.yml"
PYPROJECT = ROOT / "pyproject.toml"
#: PyPI name -> conda-forge name, where they differ.
CONDA_NAMES: dict[str, str] = {"xxhash": "python-xxhash"}
#: In environment.yml only: the interpreter, and pip to install the package itself.
TOOLING = {"python", "pip"}
COMMENT = re.compile(r"(^|\s)#(.*)$")
MATCH_SPEC = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def parse_environment(text: str) -> dict:
    """The subset of YAML environment.yml uses: top-level ``key: value`` or ``key:`` with a
    list of scalars, of which one item may be a ``- pip:`` list; comments after ``#``."""
    data: dict = {}
    key, nested, nested_indent = None, None, 0
    for raw in text.splitlines():
        line = COMMENT.sub("", raw).rstrip()
        if not line:
            continue
        indent = len(line) - len(line.lstrip())
        item = line.strip()
        if indent == 0 and ":" in item:
            key, _, value = item.partition(":")
            data[key] = value.strip() or []
            nested = None
        elif item.startswith("- ") and item.endswith(":") and key is not None:
            nested, nested_indent = [], indent
            data[key].append({item[2:-1].strip(): nested})
        elif item.startswith("- ") and key is not None:
            target = nested if nested is not None and indent > nested_indent else data[key]
            target.append(item[2:].strip())
        else:
            raise ValueError(f"environment.yml: a line this parser does not understand: {raw!r}")
    return data


def dependency_comments(text: str) -> dict[str, str]:
    """Each dependency line's entry -> its trailing comment ('' when there is none)."""
    out = {}
    for raw in text.splitlines():
        m = re.match(r"^\s+- ([^#:]+?)\s*(?:#\s*(.*))?$", raw)
        if m:
            out[m.group(1)] = (m.group(2) or "").strip()
    return out


def conda_dependencies(env: dict) -> list[str]:
    return [d for d in env["dependencies"] if isinstance(d, str)]


def pip_dependencies(env: dict) -> list[str]:
    return [p for d in env["dependencies"] if isinstance(d, dict) for p in d.get("pip", [])]


def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["project"]


def pyproject_requirements(project: dict) -> dict[str, SpecifierSet]:
    """Runtime dependencies and the [dev] extra: canonical name -> specifier."""
    out: dict[str, SpecifierSet] = {}
    for line in project["dependencies"] + project["optional-dependencies"]["dev"]:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in out, f"pyproject.toml lists {name} twice"
        out[CONDA_NAMES.get(name, name)] = req.specifier
    return out


def drift(conda: list[str], expected: dict[str, SpecifierSet]) -> list[str]:
    """Every difference between environment.yml's packages and pyproject's; empty when they agree."""
    found: dict[str, str] = {}
    problems = []
    for entry in conda:
        m = MATCH_SPEC.match(entry)
        name = canonicalize_name(m.group(1))
        if name in found:
            problems.append(f"{name}: listed twice in environment.yml")
        found[name] = m.group(2).replace(" ", "")
    for name in sorted((found.keys() - TOOLING) | expected.keys()):
        if name not in found:
            problems.append(f"{name}: in pyproject.toml ({expected[name]}), missing from environment.yml")
        elif name not in expected:
            problems.append(f"{name}: in environment.yml ({found[name]}), not in pyproject.toml")
        elif SpecifierSet(found[name]) != expected[name]:
            problems.append(f"{name}: environment.yml says {found[name] or 'any version'}, "
                            f"pyproject.toml says {expected[name] or 'any version'}")
    return problems


@pytest.fixture(scope="module")
def text() -> str:
    return ENVIRONMENT.read_text()


def test_environment_has_the_same_packages_and_bounds_as_pyproject(text):
    env = parse_environment(text)
    assert drift(conda_dependencies(env), pyproject_requirements(pyproject())) == []


@pytest.mark.parametrize("old, new, culprit", [
    ("pandas>=2.2", "pandas>=2.1", "pandas: environment.yml says >=2.1, pyproject.toml says >=2.2"),
    ("numpy>=1.26 ", "numpy ", "numpy: environment.yml says any version"),
    ("  - pytest>=8 ", "  - pytest-cov>=5 ", "pytest: in pyproject.toml (>=8), missing"),
    ("  - tqdm>=4.66", "  - polars>=1\n  - tqdm>=4.66", "polars: in environment.yml (>=1), not in pyproject"),
    ("  - seaborn>=0.13", "  - seaborn>=0.13\n  - seaborn>=0.12", "seaborn: listed twice"),
])
def test_drift_in_environment_yml_is_caught(text, old, new, culprit):
    assert old in text, f"the mutation {old!r} no longer applies to environment.yml"
    problems = drift(conda_dependencies(parse_environment(text.replace(old, new, 1))),
                     pyproject_requirements(pyproject()))
    assert any(p.startswith(culprit) for p in problems), problems


def test_drift_in_pyproject_is_caught(text):
    project = pyproject()
    project["optional-dependencies"]["dev"] = [
        "hypothesis>=6.120" if r.startswith("hypothesis") else r for r in project["optional-dependencies"]["dev"]]
    problems = drift(conda_dependencies(parse_environment(text)), pyproject_requirements(project))
    assert problems == ["hypothesis: environment.yml says >=6.100, pyproject.toml says >=6.120"]


def test_environment_installs_the_package_with_a_supported_python(text):
    env = parse_environment(text)
    assert env["name"] == "fraudworld"
    assert "conda-forge" in env["channels"]
    conda = conda_dependencies(env)
    python = [d for d in conda if MATCH_SPEC.match(d).group(1) == "python"]
    assert len(python) == 1 and python[0].startswith("python="), conda
    assert python[0].removeprefix("python=") in SpecifierSet(pyproject()["requires-python"])
    assert "pip" in conda
    assert pip_dependencies(env) == ["-e ."]


def test_every_dependency_says_what_it_is_for(text):
    env = parse_environment(text)
    comments = dependency_comments(text)
    entries = conda_dependencies(env) + pip_dependencies(env)
    missing = [e for e in entries if len(comments.get(e, "").split()) < 3]
    assert entries and not missing, f"dependencies without a comment saying what they are for: {missing}"


def test_the_tiny_parser_reads_what_yaml_reads(text):
    yaml = pytest.importorskip("yaml")  # installed with jupyter; the other tests do not need it
    assert parse_environment(text) == yaml.safe_load(text)


def test_the_tiny_parser_refuses_what_it_does_not_understand():
    with pytest.raises(ValueError, match="does not understand"):
        parse_environment("name: fraudworld\ndependencies:\n  numpy: '>=1.26'\n")
