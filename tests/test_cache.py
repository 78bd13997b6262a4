"""The world cache: reused while fresh, regenerated when the config, version or generator changes."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

import simulator
import simulator.cache as cache


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAUDWORLD_DATA", str(tmp_path))
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
    needed = imported_modules("world") | imported_modules("storage")
    assert {"world", "fraud", "labels", "features"} <= needed
    assert needed <= set(cache.GENERATOR_MODULES), needed - set(cache.GENERATOR_MODULES)
    assert len(cache.generator_fingerprint()) == 64
