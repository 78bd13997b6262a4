"""``fraudworld doctor``: is this machine ready to run the notebooks? Checks, prints what to fix.

Each check gives ``ok``, ``warn`` (works, but not as tested) or ``fail`` (a notebook will not
run); the command exits 1 when any check fails. The checks, in order:

* **python** -- the interpreter satisfies the package's ``Requires-Python``;
* **packages** -- every requirement of the package and of its ``[dev]`` extra (the notebooks'
  front end) is installed at a version its range allows;
* **lock** -- the installed versions equal the workshop's lock file (``requirements/workshop.txt``,
  the exact versions CI tested; ``make workshop-env`` installs them). A difference is a warning:
  the ranges still hold, but that combination was not tested;
* **kernel** -- the Jupyter kernel the notebooks run in (``python3``) imports this same
  ``simulator`` and its numerical stack (a kernel of another Python is the classic laptop failure);
* **threads** -- ``OMP_NUM_THREADS=1``: scikit-learn's OpenMP threads are pathologically slow on
  small machines (the lessons pin their own fits, a learner's own experiments do not);
* **disk** and **memory** -- room for the default world and its cached results, and for the
  heaviest notebook (see :data:`DISK_NEEDED_MB`, :data:`MEMORY_NEEDED_MB`);
* **world** -- the notebooks' world (preset ``default``, seed 0) is generated into the world
  cache if it is not there yet, so the first notebook starts at once on the day.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import psutil
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from . import __version__, paths

PACKAGE = "fraudworld"
EXTRAS = ("dev",)  # the extras a participant needs: Jupyter, the kernel, nbval
LOCK = paths.WORKSHOP_LOCK
KERNEL = "python3"
# A default world is 86-88 MB on disk and its lessons' cached results about 72 MB; twice that for
# the temporary copy written before the rename, plus the figures and slack.
DISK_NEEDED_MB = 500
# The heaviest notebook (04) peaks at 2.7 GB whole-process (benchmarks/results/lessons.json); the
# Jupyter server and a browser tab come on top. tests/test_doctor.py keeps this above the benchmark.
MEMORY_NEEDED_MB = 4000
KERNEL_IMPORTS = ("simulator", "numpy", "pandas", "pyarrow", "sklearn", "scipy", "matplotlib", "seaborn")

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    """One finding: what was checked, its status, what was found, and how to fix it if not ok."""

    name: str
    status: str
    found: str
    fix: str = ""


def python_check(version: Sequence[int], requires: str) -> Check:
    """The interpreter ``version`` (``sys.version_info``) against ``Requires-Python``."""
    found = ".".join(str(v) for v in version[:3])
    if Version(found) in SpecifierSet(requires):
        return Check("python", OK, f"{found} (requires {requires})")
    return Check("python", FAIL, f"{found}, but fraudworld requires {requires}",
                 "install Python 3.11 (python.org or pyenv) and recreate the environment: make workshop-env")


def requirements_of(package: str = PACKAGE, extras: Iterable[str] = EXTRAS) -> list[Requirement]:
    """The package's requirements that apply here: its own and those of ``extras``."""
    wanted = [Requirement(r) for r in metadata.requires(package) or []]
    return [r for r in wanted
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in ("", *extras))]


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def packages_check(requirements: Iterable[Requirement],
                   installed: Callable[[str], str | None] = installed_version) -> Check:
    """Every requirement installed at a version its specifier allows."""
    missing, wrong, n = [], [], 0
    for r in requirements:
        n += 1
        have = installed(r.name)
        if have is None:
            missing.append(str(r))
        elif not r.specifier.contains(have, prereleases=True):
            wrong.append(f"{r.name} {have} (needs {r.specifier})")
    if not missing and not wrong:
        return Check("packages", OK, f"{n} requirements satisfied")
    found = "; ".join(([f"missing: {', '.join(missing)}"] if missing else [])
                      + ([f"wrong version: {', '.join(wrong)}"] if wrong else []))
    return Check("packages", FAIL, found, "make workshop-env (or: pip install -r requirements/workshop.txt "
                                          "&& pip install --no-deps -e .)")


class LockFileError(ValueError):
    """A lock file line that is not an exact pin."""


def locked_versions(path: Path) -> dict[str, str]:
    """The exact pins of a lock file (``name==version``, markers evaluated for this machine).

    Raises :class:`LockFileError` naming the line that is not such a pin."""
    pins = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            r = Requirement(line)
        except InvalidRequirement as exc:
            raise LockFileError(f"{path}, line {number}: {exc}") from None
        specs = list(r.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise LockFileError(f"{path}, line {number}: {line!r} is not an exact pin (name==version)")
        if r.marker is None or r.marker.evaluate():
            pins[canonicalize_name(r.name)] = specs[0].version
    return pins


def lock_check(path: Path, installed: Callable[[str], str | None] = installed_version) -> Check:
    """The installed versions against the pins of the lock file at ``path`` (a warning if there is none)."""
    if not Path(path).exists():
        return Check("lock", WARN, f"no lock file at {path}",
                     "run from a clone of the repository to compare with the tested versions")
    pins = locked_versions(path)
    differ = [f"{name} {installed(name) or 'missing'} (tested {want})" for name, want in sorted(pins.items())
              if installed(name) != want]
    if not differ:
        return Check("lock", OK, f"{len(pins)} packages at the tested versions ({Path(path).name})")
    shown = ", ".join(differ[:6]) + (f" and {len(differ) - 6} more" if len(differ) > 6 else "")
    return Check("lock", WARN, f"{len(differ)} of {len(pins)} differ from the tested versions: {shown}",
                 "make workshop-env installs exactly the versions CI tested")


KERNEL_PROBE = ("import json, importlib, sys; mods = {m: importlib.import_module(m) for m in %r}; "
                "print(json.dumps({'python': sys.executable, 'simulator': mods['simulator'].__file__, "
                "'version': mods['simulator'].__version__}))")


def kernel_argv(name: str = KERNEL) -> list[str] | None:
    """The command the Jupyter kernel ``name`` starts with, or ``None`` if there is no such kernel.

    A bare ``python`` is the Python Jupyter itself runs in, as jupyter_client substitutes it."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:  # no Jupyter at all: the packages check names it
        return None

    try:
        argv = list(KernelSpecManager().get_kernel_spec(name).argv)
    except NoSuchKernel:
        return None
    bare = {"python", f"python{sys.version_info[0]}", "python%i.%i" % sys.version_info[:2]}
    return [sys.executable, *argv[1:]] if argv and argv[0] in bare else argv


def kernel_check(argv: list[str] | None, timeout: float = 120) -> Check:
    """The kernel's Python imports this ``simulator`` and the numerical stack."""
    fix = f"{sys.executable} -m ipykernel install --user --name {KERNEL} (from this environment)"
    if argv is None:
        return Check("kernel", FAIL, f"no Jupyter kernel named {KERNEL!r}", fix)
    python = argv[0]
    try:
        out = subprocess.run([python, "-c", KERNEL_PROBE % (KERNEL_IMPORTS,)], capture_output=True, text=True,
                             timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("kernel", FAIL, f"the kernel's Python {python} does not start: {exc}", fix)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no error message"])[-1]
        return Check("kernel", FAIL, f"the kernel's Python {python} cannot import the stack: {last}", fix)
    try:
        seen = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return Check("kernel", FAIL, f"the kernel's Python {python} printed no answer to the import probe", fix)
    ours = str(Path(__file__).resolve().parent)
    if str(Path(seen["simulator"]).resolve().parent) != ours or seen["version"] != __version__:
        return Check("kernel", WARN, f"the kernel imports simulator {seen['version']} from {seen['simulator']}, "
                                     f"not {__version__} from {ours}", fix)
    return Check("kernel", OK, f"{KERNEL} ({seen['python']}) imports {', '.join(KERNEL_IMPORTS)}")


def threads_check(environ: dict[str, str]) -> Check:
    value = environ.get("OMP_NUM_THREADS")
    if value == "1":
        return Check("threads", OK, "OMP_NUM_THREADS=1")
    return Check("threads", WARN, f"OMP_NUM_THREADS is {'unset' if value is None else repr(value)}",
                 "export OMP_NUM_THREADS=1 before starting Jupyter (add it to your shell profile)")


def space_check(name: str, free_mb: float, needed_mb: float, where: str, fix: str) -> Check:
    found = f"{free_mb:,.0f} MB free {where} (needs {needed_mb:,.0f} MB)"
    return Check(name, OK if free_mb >= needed_mb else FAIL, found, "" if free_mb >= needed_mb else fix)


def disk_check(folder: Path, needed_mb: float = DISK_NEEDED_MB) -> Check:
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path.cwd())
    return space_check("disk", shutil.disk_usage(existing).free / 2**20, needed_mb, f"at {folder}",
                       "free some disk space, or set FRAUDWORLD_DATA to a folder on a disk that has it")


def memory_check(needed_mb: float = MEMORY_NEEDED_MB) -> Check:
    return space_check("memory", psutil.virtual_memory().available / 2**20, needed_mb, "in memory",
                       "close other programs (browsers, IDEs) before the workshop")


def world_check(preset: str = "default", seed: int = 0) -> Check:
    """Generate the notebooks' world into the cache if it is not there (a few seconds), else read it."""
    from .cache import load_world

    start = time.perf_counter()
    try:
        world = load_world(preset, seed, progress=True)
    except Exception as exc:  # a full disk, no memory, a cache damaged by hand: say so, and how to start over
        return Check("world", FAIL, f"{preset} world, seed {seed}: {type(exc).__name__}: {exc}",
                     f"fix the disk or memory finding above, or delete {paths.world_dir(preset, seed)} and rerun")
    return Check("world", OK, f"{preset} world, seed {seed}: {len(world.transactions):,} purchases at "
                              f"{paths.world_dir(preset, seed)} ({time.perf_counter() - start:.1f} s)")


def checks(*, warm: bool = True, lock: Path = LOCK) -> list[Check]:
    """Every check on this machine, in order (``warm``: generate the world cache last)."""
    requires = metadata.metadata(PACKAGE)["Requires-Python"] or ""
    found = [python_check(sys.version_info, requires),
             packages_check(requirements_of()),
             lock_check(lock),
             kernel_check(kernel_argv()),
             threads_check(dict(os.environ)),
             disk_check(paths.data_dir(), DISK_NEEDED_MB),
             memory_check(MEMORY_NEEDED_MB)]
    if warm and not any(c.status == FAIL for c in found):
        found.append(world_check())
    return found


def report(found: Iterable[Check]) -> str:
    """One line per check, and under each that is not ok, what to do."""
    lines = []
    for c in found:
        lines.append(f"{c.status.upper():<4}  {c.name:<8}  {c.found}")
        if c.fix:
            lines.append(f"{'':<16}fix: {c.fix}")
    return "\n".join(lines)


def exit_code(found: Iterable[Check]) -> int:
    return 1 if any(c.status == FAIL for c in found) else 0
