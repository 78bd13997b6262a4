"""Cached worlds: generate once, load afterwards (notebooks, figures and tests share them).

A cached world is keyed by preset and seed and checked against the package
version, the config in its manifest and a fingerprint of the generator's
source, so editing the generator invalidates the cache even without a version
bump. Loading holds a file lock, so parallel test workers generate a world once.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import __version__
from .config import preset as preset_config
from .config import to_mapping
from .paths import world_dir
from .storage import read_manifest, read_world, write_world
from .world import World

# The modules whose code decides what a generated world contains.
GENERATOR_MODULES = ("config", "rng", "timebase", "population", "transactions", "fraud", "labels",
                     "outages", "features", "world", "storage")
FINGERPRINT_FILE = "generator.sha256"


def generator_fingerprint() -> str:
    """SHA-256 over the source of :data:`GENERATOR_MODULES`."""
    digest = hashlib.sha256()
    for name in GENERATOR_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / f".{path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _is_fresh(path: Path, config_mapping: dict, fingerprint: str) -> bool:
    try:
        manifest = read_manifest(path)
        stored = (path / FINGERPRINT_FILE).read_text().strip()
    except (FileNotFoundError, ValueError):
        return False
    return (manifest.get("version") == __version__ and manifest.get("config") == config_mapping
            and stored == fingerprint)


def load_world(preset: str = "default", seed: int = 0, *, progress: bool = False) -> World:
    """The world of ``preset`` and ``seed``, from the cache or generated into it."""
    config = preset_config(preset)
    path = world_dir(preset, seed)
    fingerprint = generator_fingerprint()
    with _locked(path):
        if not _is_fresh(path, to_mapping(config), fingerprint):
            write_world(path, config, seed=seed, force=True, progress=progress)
            (path / FINGERPRINT_FILE).write_text(fingerprint + "\n")
        return read_world(path)
