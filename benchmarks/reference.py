"""The benchmarks' machine reference: how fast this machine is here and now.

Wall times on a shared virtual machine vary from one minute to the next; each report starts with
this reference so that machines and moments can be compared."""

from __future__ import annotations

import time


def reference_seconds() -> float:
    """Seconds numpy takes to sort ten million floats here and now (best of three)."""
    import numpy as np

    values = np.random.default_rng(0).random(10_000_000)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        np.sort(values)
        times.append(time.perf_counter() - t0)
    return min(times)
