"""Cached worlds: generate once, load afterwards (notebooks and figures share them).

A cached world is keyed by preset and seed and checked against the package
version and config in its manifest; a stale cache is regenerated.
"""

from __future__ import annotations

from . import __version__
from .config import preset as preset_config
from .config import to_mapping
from .paths import world_dir
from .storage import read_manifest, read_world, write_world
from .world import World


def load_world(preset: str = "default", seed: int = 0, *, progress: bool = False) -> World:
    """The world of ``preset`` and ``seed``, from the cache or generated into it."""
    config = preset_config(preset)
    path = world_dir(preset, seed)
    if path.exists():
        try:
            manifest = read_manifest(path)
            fresh = manifest.get("version") == __version__ and manifest.get("config") == to_mapping(config)
        except (FileNotFoundError, ValueError):
            fresh = False
        if fresh:
            return read_world(path)
    write_world(path, config, seed=seed, force=True, progress=progress)
    return read_world(path)
