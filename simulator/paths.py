"""Every path the project writes to, in one place.

``FRAUDWORLD_DATA`` (default ``data/`` at the repository root) holds cached
worlds and, under ``results/`` (or ``FRAUDWORLD_RESULTS``), the lessons' cached
results; ``figures/`` holds the regenerated figures.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "figures"
WORKSHOP_LOCK = ROOT / "requirements" / "workshop.txt"  # the versions CI tested, for laptops


def data_dir() -> Path:
    return Path(os.environ.get("FRAUDWORLD_DATA", ROOT / "data"))


def world_dir(preset: str, seed: int) -> Path:
    """Where the cached world of a preset and seed lives."""
    return data_dir() / "worlds" / f"{preset}-seed{seed}"


def results_dir() -> Path:
    """Where lessons' results are cached, one folder per cached world."""
    return Path(os.environ.get("FRAUDWORLD_RESULTS", data_dir() / "results"))
