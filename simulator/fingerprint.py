"""What decides a generated world's content, besides its config and seed: the generator's source.

:func:`generator_fingerprint` hashes the source of :data:`GENERATOR_MODULES`, so a
cached world is regenerated when the generator changes (:mod:`simulator.cache`) and a
cluster whose workers run other code is refused (:func:`simulator.engines.check_cluster`).
Light on purpose: workers import it to answer, and it reads nothing but these files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# The modules whose code decides what a generated world contains.
GENERATOR_MODULES = ("config", "rng", "timebase", "population", "transactions", "fraud", "labels", "outages",
                     "features", "lookup", "world", "storage", "generation", "engines", "summary", "fingerprint")


def generator_fingerprint() -> str:
    """SHA-256 over the source of :data:`GENERATOR_MODULES`."""
    digest = hashlib.sha256()
    for name in GENERATOR_MODULES:
        digest.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return digest.hexdigest()


__all__ = ["GENERATOR_MODULES", "generator_fingerprint"]
