"""The caches: a world is reused while fresh and regenerated when the config, version or generator
changes; a lesson's results are reused for the same world and code and recomputed when either changes."""

from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path

import pandas as pd
import pytest

import simulator
import simulator.cache as cache
from simulator.fingerprint import GENERATOR_MODULES


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUDWORLD_DATA", str(tmp_path))
    monkeypatch.delenv("FRAUDWORLD_RESULTS", raising=False)
    return tmp_path


@pytest.fixture
def writes(monkeypatch):
    """Count the calls to write_world made by the cache."""
    calls = []
    real = cache.write_world

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "write_world", counting)
    return calls


def test_a_fresh_cache_is_read_not_regenerated(data_dir, writes):
    first = cache.load_world("small", 3)
    second = cache.load_world("small", 3)
    assert len(writes) == 1
    pd.testing.assert_frame_equal(first.transactions, second.transactions)


def test_editing_the_generator_invalidates_the_cache(data_dir, writes, monkeypatch):
    cache.load_world("small", 3)
    monkeypatch.setattr(cache, "generator_fingerprint", lambda: "0" * 64)
    cache.load_world("small", 3)
    cache.load_world("small", 3)
    assert len(writes) == 2
    assert (data_dir / "worlds" / "small-seed3" / cache.FINGERPRINT_FILE).read_text().strip() == "0" * 64


def test_a_cache_without_fingerprint_is_regenerated(data_dir, writes):
    cache.load_world("small", 3)
    (data_dir / "worlds" / "small-seed3" / cache.FINGERPRINT_FILE).unlink()
    cache.load_world("small", 3)
    assert len(writes) == 2


def test_a_changed_config_invalidates_the_cache(data_dir, writes, monkeypatch):
    cache.load_world("small", 3)
    longer = simulator.preset("small").with_overrides(days=61)
    monkeypatch.setattr(cache, "preset_config", lambda name: longer)
    world = cache.load_world("small", 3)
    assert len(writes) == 2
    assert world.config.horizon.days == 61


def imported_modules(name: str) -> set[str]:
    """The simulator modules ``simulator.<name>`` imports, directly or through others."""
    seen, todo = set(), [name]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        tree = ast.parse((Path(cache.__file__).parent / f"{module}.py").read_text())
        todo += [node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module]
    return seen


def test_the_fingerprint_covers_every_module_the_generator_imports():
    needed = imported_modules("generation")  # the writer, and through it the world and its storage
    assert {"world", "storage", "fraud", "labels", "features"} <= needed
    assert needed <= set(GENERATOR_MODULES), needed - set(GENERATOR_MODULES)
    assert len(cache.generator_fingerprint()) == 64


# --- lesson results ------------------------------------------------------------------------------

@pytest.fixture
def results_dir(data_dir):
    return data_dir / "results"


def counted(monkeypatch_calls: list):
    """A stand-in lesson: ``results(world)`` that counts its computations."""
    @cache.cached_results
    def results(world):
        monkeypatch_calls.append(world)
        return {"transactions": len(world.transactions), "first": world.transactions.head(3)}

    return results


def test_results_are_computed_once_per_world_and_code(data_dir, results_dir):
    calls = []
    results = counted(calls)
    world = cache.load_world("small", 3)
    first = results(world)
    assert results(world) is first, "memoised for the same world object"
    again = results(cache.load_world("small", 3))  # another object, as another process gets
    assert len(calls) == 1, "read back from disk, not recomputed"
    pd.testing.assert_frame_equal(again["first"], first["first"])
    assert len(list(results_dir.rglob("*.pkl"))) == 1


def test_a_code_change_invalidates_the_results(data_dir, results_dir, monkeypatch):
    calls = []
    results = counted(calls)
    results(cache.load_world("small", 3))
    monkeypatch.setattr(cache, "LESSON_CODE", "1" * 64)
    results(cache.load_world("small", 3))
    results(cache.load_world("small", 3))
    assert len(calls) == 2
    assert [p.name.endswith(f"-{'1' * 20}.pkl") for p in results_dir.rglob("*.pkl")] == [True], (
        "the stale results are replaced")


def test_a_world_not_from_the_cache_is_never_stored(data_dir, results_dir):
    calls = []
    results = counted(calls)
    world = simulator.generate(simulator.preset("small"), seed=3)
    results(world)
    results(world)
    results(simulator.generate(simulator.preset("small"), seed=3))
    assert len(calls) == 2 and not results_dir.exists()


def test_a_changed_copy_of_a_cached_world_is_computed_not_read(data_dir, results_dir):
    calls = []
    results = counted(calls)
    world = cache.load_world("small", 3)
    results(world)
    fewer = dataclasses.replace(world, transactions=world.transactions.iloc[1:])
    assert results(fewer)["transactions"] == len(world.transactions) - 1
    assert len(calls) == 2 and len(list(results_dir.rglob("*.pkl"))) == 1


def test_a_cache_that_cannot_be_written_is_skipped_with_a_warning(data_dir, monkeypatch):
    blocker = data_dir / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FRAUDWORLD_RESULTS", str(blocker / "results"))
    calls = []
    results = counted(calls)
    with pytest.warns(UserWarning, match="lesson results cache: .*computing without it"):
        value = results(cache.load_world("small", 3))
    assert len(calls) == 1 and value["transactions"] > 0


def test_the_code_fingerprint_follows_lesson_code_not_plots(tmp_path):
    package = tmp_path / "simulator"
    shutil.copytree(Path(cache.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    before = cache.code_fingerprint(package)
    (package / "plots" / "style.py").write_text((package / "plots" / "style.py").read_text() + "\n# a comment\n")
    assert cache.code_fingerprint(package) == before, "drawing does not change results"
    (package / "evaluate.py").write_text((package / "evaluate.py").read_text() + "\n# a comment\n")
    assert cache.code_fingerprint(package) != before


def lesson_imports(name: str) -> set[str]:
    """The simulator modules (as paths under the package) ``simulator.lessons.<name>`` imports."""
    root = Path(cache.__file__).parent
    seen, todo = set(), [root / "lessons" / f"{name}.py"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "simulator" for a in node.names):
                todo += [root.joinpath(*a.name.split(".")[1:]).with_suffix(".py") for a in node.names
                         if a.name.startswith("simulator.")]
            if not (isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("simulator"))):
                continue
            base = path.parent
            for _ in range(node.level - 1):
                base = base.parent
            parts = (node.module or "").split(".") if node.module else []
            if not node.level:  # from simulator.x import y
                base, parts = root, parts[1:]
            target = base.joinpath(*parts)
            candidates = [target] + [target / a.name for a in node.names]  # `from . import x` imports modules
            for c in candidates:
                if c.is_dir():
                    todo.append(c / "__init__.py")
                elif c.with_suffix(".py").exists():
                    todo.append(c.with_suffix(".py"))
    return {str(p.relative_to(root)) for p in seen}


@pytest.mark.parametrize("lesson", ["time_travel", "default_signalling", "population_shift", "design_that_time"])
def test_the_code_fingerprint_covers_every_module_a_lesson_imports(lesson):
    imported = lesson_imports(lesson)
    assert {"experiment.py", "pipelines.py", "evaluate.py", "cache.py"} <= imported
    excluded = [m for m in imported if m.split("/")[0] in cache.NOT_LESSON_CODE]
    assert not excluded, f"{lesson} computes with {excluded}, which the results cache ignores"


def test_cached_and_uncached_lesson_results_are_the_same_numbers(data_dir):
    """A real lesson: computed directly, computed into the cache, and read back from it."""
    from simulator.lessons import time_travel

    direct = time_travel.results.__wrapped__(cache.load_world("lesson", 0))
    stored = time_travel.results(cache.load_world("lesson", 0))
    read = time_travel.results(cache.load_world("lesson", 0))
    for field in ("offline_vs_production", "maturity", "immature_labels"):
        for other in (stored, read):
            pd.testing.assert_frame_equal(getattr(other, field), getattr(direct, field))
    assert read.missing_label_share == direct.missing_label_share
    pd.testing.assert_frame_equal(read.user_day.purchases, direct.user_day.purchases)
