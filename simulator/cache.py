"""Cached worlds and lesson results: compute once, load afterwards (notebooks, figures and
tests share them).

A cached world is keyed by preset and seed and checked against the package
version, the config in its manifest and a fingerprint of the generator's
source, so editing the generator invalidates the cache even without a version
bump. Loading holds a file lock, so parallel test workers generate a world once.

A lesson's ``results(world)`` (decorated with :func:`cached_results`) is
memoised per world object, and for a world object returned by
:func:`load_world` also stored on disk, keyed by what that world was generated
from and by :data:`LESSON_CODE` -- the source of every module the lessons
compute with, as imported by this process, and the versions of the numerical
libraries. Computing holds a lock per world and lesson, so parallel workers
compute it once. A copy of a loaded world (``dataclasses.replace``) is a new
world and is computed; a loaded world's tables edited in place are not noticed
(the tables are read-only by convention; reload instead). A results folder that
cannot be written is skipped with a warning.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import os
import pickle
import platform
import warnings
import weakref
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Callable, TypeVar

from . import __version__
from .config import preset as preset_config
from .config import to_mapping
from .fingerprint import generator_fingerprint
from .paths import results_dir, world_dir
from .generation import write_world
from .storage import read_manifest
from .world import World, read_world

T = TypeVar("T")

FINGERPRINT_FILE = "generator.sha256"
PACKAGE = Path(__file__).parent
# What lesson results do not depend on: drawing, the figure and command-line front ends, the
# workshop's and the book's tooling, the doctor, the audit of a user's tables and the shard-wise builder.
NOT_LESSON_CODE = ("plots", "figures.py", "cli.py", "workshop.py", "book.py", "doctor.py", "audit", "shardwise.py")
LIBRARIES = ("numpy", "pandas", "pyarrow", "scikit-learn", "scipy")


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
        world = read_world(path)
    identity = json.dumps([to_mapping(config), seed, __version__, fingerprint], sort_keys=True, default=str)
    _FROM_CACHE[world] = hashlib.sha256(identity.encode()).hexdigest()
    return world


def code_fingerprint(package: Path = PACKAGE) -> str:
    """SHA-256 over the source of every module of ``package`` but :data:`NOT_LESSON_CODE`, and
    the versions of Python and the :data:`LIBRARIES` (a new scikit-learn may fit other trees)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] not in NOT_LESSON_CODE:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        digest.update(f"{name}=={version(name)}\0".encode())
    digest.update(platform.python_version().encode())
    return digest.hexdigest()


LESSON_CODE = code_fingerprint()  # of the code this process imported, not of the files as they are later
# The worlds load_world returned, with what each was generated from (a digest of config,
# seed, package version and generator source); only these have results on disk.
_FROM_CACHE: "weakref.WeakKeyDictionary[World, str]" = weakref.WeakKeyDictionary()


def results_path(world: World, name: str) -> Path:
    """Where ``name``'s results on ``world`` (a world :func:`load_world` returned) are stored."""
    return results_dir() / _FROM_CACHE[world][:20] / f"{name}-{LESSON_CODE[:20]}.pkl"


def _computed_or_read(fn: Callable[[World], T], world: World) -> T:
    name = f"{fn.__module__}.{fn.__qualname__}"
    path = results_path(world, name)
    with ExitStack() as held:
        try:
            held.enter_context(_locked(path.with_name(name)))  # one lock per world and lesson, whatever the code
            if path.exists():
                with open(path, "rb") as f:
                    return pickle.load(f)
        except OSError as exc:
            warnings.warn(f"lesson results cache: {exc}; computing without it", stacklevel=3)
            return fn(world)
        value = fn(world)
        try:
            _store(value, path, name)
        except OSError as exc:
            warnings.warn(f"lesson results cache: {exc}; the results are not stored", stacklevel=3)
        return value


def _store(value, path: Path, name: str) -> None:
    for stale in path.parent.glob(f"{name}-*.pkl"):  # this lesson's results under older code
        stale.unlink()
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def cached_results(fn: Callable[[World], T]) -> Callable[[World], T]:
    """Decorate a lesson's ``results(world)``: memoised for the last world object it saw, and
    stored on disk for a world from the cache (see the module docstring)."""
    last: dict = {}

    @functools.wraps(fn)
    def wrapper(world: World) -> T:
        if last.get("world") is not world:
            last.clear()
            value = _computed_or_read(fn, world) if world in _FROM_CACHE else fn(world)
            last.update(world=world, value=value)
        return last["value"]

    return wrapper
