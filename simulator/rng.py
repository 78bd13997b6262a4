"""Random streams: one seed in, an independent stream per component and shard.

Streams are derived with :class:`numpy.random.SeedSequence` from
``(seed, component, shard)``, where the component is identified by a stable
checksum of its name. Adding a mechanism adds a stream and reshuffles none of
the others; a shard's draws do not depend on how many shards are generated
together.
"""

from __future__ import annotations

import zlib

import numpy as np


def check_seed(seed: object) -> int:
    """The seed as a non-negative int, or a ``ValueError`` naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: {seed!r} is not allowed; expected a non-negative integer")
    return int(seed)


def component_rng(seed: int, component: str, shard: int | None = None) -> np.random.Generator:
    """The generator for ``component`` (and ``shard``, for per-user work) of world ``seed``."""
    key = (zlib.crc32(component.encode()),) if shard is None else (zlib.crc32(component.encode()), shard)
    return np.random.default_rng(np.random.SeedSequence(entropy=check_seed(seed), spawn_key=key))
