"""The world's clock and its calendar.

Internally every time is an ``int64`` count of milliseconds since midnight of
the horizon's first day (``ms``); tables expose ``datetime64[ns]`` wall-clock
timestamps without a time zone, all on the platform's one local clock.
"""

from __future__ import annotations

import math

import numpy as np

from .config import WorldConfig

MS_PER_MINUTE = 60_000
MS_PER_HOUR = 60 * MS_PER_MINUTE
MS_PER_DAY = 24 * MS_PER_HOUR


def horizon_ms(config: WorldConfig) -> int:
    """Length of the horizon in milliseconds: events happen in ``[0, horizon_ms)``."""
    return config.horizon.days * MS_PER_DAY


def start_ns(config: WorldConfig) -> np.int64:
    return np.datetime64(config.horizon.start, "ns").astype(np.int64)


def to_timestamp(config: WorldConfig, ms: np.ndarray) -> np.ndarray:
    """Milliseconds since the horizon start as ``datetime64[ns]`` wall-clock times."""
    return (start_ns(config) + np.asarray(ms, dtype=np.int64) * 1_000_000).view("datetime64[ns]")


class SortedLookup:
    """``np.searchsorted(edges, x, side="right")`` for many ``x``, mostly by table lookup.

    ``[0, scale)``, with ``scale`` a power of two above the last edge, is cut
    into :attr:`BINS` equal bins, so a value's bin is computed exactly. A bin
    with no edge inside has one answer for all its values, read from a table;
    values in the other bins, or outside ``[0, scale)``, are searched. The
    results are exactly ``np.searchsorted``'s.
    """

    BINS = 1 << 16

    def __init__(self, edges: np.ndarray):
        self.edges = np.asarray(edges, dtype=float)
        top = float(self.edges[-1]) if len(self.edges) else 0.0
        exponent = math.frexp(top)[1] if top > 0 and math.isfinite(top) else 0  # 2**exponent > top
        exponent = min(max(exponent, -1000), 1000)  # bins stay normal floats; larger x is searched
        self.factor = math.ldexp(self.BINS, -exponent)  # a power of two: x * factor, b / factor are exact
        bounds = np.arange(self.BINS + 1) / self.factor
        lo = np.searchsorted(self.edges, bounds[:-1], side="right")  # for x at a bin's start
        hi = np.searchsorted(self.edges, bounds[1:], side="left")  # for x just below its end
        table = np.where(lo == hi, lo, -1)
        table[0] = -1  # bin 0 also catches small negative x (the cast truncates toward zero)
        self.table = np.append(table, -1).astype(np.int32)  # index BINS (and -1): out of range

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        with np.errstate(invalid="ignore", over="ignore"):  # nan, inf: searched below
            b = (x * self.factor).astype(np.int64)
        np.clip(b, -1, self.BINS, out=b)
        out = self.table[b].astype(np.intp)
        miss = np.flatnonzero(out < 0)
        out[miss] = np.searchsorted(self.edges, x[miss], side="right")
        return out


class Rhythm:
    """The weekly rhythm of activity as a cumulative intensity over the horizon.

    Intensity is piecewise constant per hour, ``weekday_weight * hourly_weight``,
    scaled so that one unit of rate means one expected event per day on
    average over a week. :meth:`expected` integrates it; :meth:`sample` draws
    event times from it by inverting the cumulative intensity.
    """

    def __init__(self, config: WorldConfig):
        a = config.activity
        hourly = np.asarray(a.hourly_weights, float)
        weekly = np.asarray(a.weekday_weights, float)
        days = config.horizon.days
        weekday0 = config.horizon.start.weekday()
        day_w = weekly[(weekday0 + np.arange(days)) % 7]
        per_hour = (day_w[:, None] * hourly[None, :]).ravel()
        per_hour /= (hourly.sum() * weekly.mean())  # average day integrates to 1
        self._cum = np.concatenate([[0.0], np.cumsum(per_hour)])  # at hour boundaries
        self._per_hour = per_hour
        self._hour_of = SortedLookup(self._cum)

    def cumulative(self, ms: np.ndarray) -> np.ndarray:
        """Integrated intensity from the horizon start to ``ms`` (in 'average days')."""
        ms = np.clip(np.asarray(ms, dtype=np.int64), 0, (len(self._cum) - 1) * MS_PER_HOUR)
        hour = np.minimum(ms // MS_PER_HOUR, len(self._per_hour) - 1)
        frac = (ms - hour * MS_PER_HOUR) / MS_PER_HOUR
        return self._cum[hour] + frac * self._per_hour[hour]

    def expected(self, lo_ms: np.ndarray, hi_ms: np.ndarray) -> np.ndarray:
        """Expected events per unit rate between ``lo_ms`` and ``hi_ms``."""
        return self.cumulative(hi_ms) - self.cumulative(lo_ms)

    def sample(self, rng: np.random.Generator, lo_ms: np.ndarray, hi_ms: np.ndarray,
               repeats: np.ndarray | None = None) -> np.ndarray:
        """Event times drawn from the rhythm restricted to ``[lo, hi)``: one per element,
        or ``repeats[i]`` for element ``i`` (in element order, as with ``np.repeat``)."""
        lo_ms, hi_ms = np.asarray(lo_ms, dtype=np.int64), np.asarray(hi_ms, dtype=np.int64)
        lo_c = self.cumulative(lo_ms)
        width = self.cumulative(hi_ms) - lo_c
        last_ms = np.maximum(lo_ms, hi_ms - 1)
        if repeats is not None:  # the same values as repeating the bounds first, for fewer
            lo_c, width, lo_ms, last_ms = (np.repeat(x, repeats) for x in (lo_c, width, lo_ms, last_ms))
        target = rng.random(len(lo_c))
        target *= width
        target += lo_c
        hour = np.clip(self._hour_of(target) - 1, 0, len(self._per_hour) - 1)
        frac = target
        frac -= self._cum[hour]
        frac /= self._per_hour[hour]
        frac *= MS_PER_HOUR
        ms = np.floor(frac, out=frac).astype(np.int64)
        ms += hour * MS_PER_HOUR
        return np.clip(ms, lo_ms, last_ms, out=ms)


def batch_schedule(config: WorldConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(run_at_ms, available_at_ms)`` of the nightly job, one run per horizon day.

    Run ``d`` reads everything with a time ``<= run_at[d]`` (its data cutoff, at
    ``run_time`` on day ``d``) and its snapshot can be read from
    ``available_at[d] = run_at[d] + latency``.
    """
    job = config.batch_job
    offset = (job.run_time.hour * 60 + job.run_time.minute) * MS_PER_MINUTE + job.run_time.second * 1000
    run_at = np.arange(config.horizon.days, dtype=np.int64) * MS_PER_DAY + offset
    latency_min = job.latency_minutes_median * np.exp(job.latency_sigma * rng.standard_normal(len(run_at)))
    available_at = run_at + np.maximum(1, np.round(latency_min * MS_PER_MINUTE)).astype(np.int64)
    return run_at, available_at
