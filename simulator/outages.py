"""Outages of the online feature service, concentrated at peak load.

Time semantics: inside ``[start_time, end_time)`` a request to the service
fails with probability ``failure_rate``; a failed request returns nothing and
the serving log records the features as ``unavailable``. Outages never overlap.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .config import WorldConfig
from .timebase import MS_PER_DAY, MS_PER_HOUR, MS_PER_MINUTE, SortedLookup, to_timestamp

SERVICE = "online_features"


@dataclass(frozen=True)
class Outages:
    """Outage intervals (ms, sorted, disjoint) and their failure rates."""

    start: np.ndarray
    end: np.ndarray
    failure_rate: np.ndarray

    def failure_rate_at(self, t: np.ndarray) -> np.ndarray:
        """The failure rate in force at each time (0 outside outages)."""
        if not len(self.start):  # a world without outages
            return np.zeros(len(t))
        # j - 1 is the last outage started at or before t; j = 0 (none) reads a sentinel that never holds t.
        t = np.asarray(t)
        j = self._started_by(t)
        end, rate = self._by_started
        return np.where(t < end[j], rate[j], 0.0)

    @cached_property
    def _started_by(self) -> SortedLookup:
        """``np.searchsorted(self.start, t, side="right")``, by table lookup."""
        return SortedLookup(self.start.astype(float))

    @cached_property
    def _by_started(self) -> tuple[np.ndarray, np.ndarray]:
        """``end`` and ``failure_rate`` indexed by the count of outages started, after a sentinel at 0."""
        return (np.concatenate([[np.iinfo(np.int64).min], self.end]).astype(np.int64),
                np.concatenate([[0.0], self.failure_rate]))

    def table(self, config: WorldConfig) -> pd.DataFrame:
        return pd.DataFrame({
            "start_time": to_timestamp(config, self.start),
            "end_time": to_timestamp(config, self.end),
            "service": pd.Categorical(np.full(len(self.start), SERVICE)),
            "failure_rate": self.failure_rate,
        })


def make_outages(config: WorldConfig, rng: np.random.Generator) -> Outages:
    o = config.outages
    days = np.arange(config.horizon.days, dtype=np.int64)
    starts = []
    for lo_h, hi_h in o.peak_windows_hours:  # a loop over the (few) peak windows
        hit = days[rng.random(len(days)) < o.probability_per_peak]
        starts.append(hit * MS_PER_DAY + np.round((lo_h + rng.random(len(hit)) * (hi_h - lo_h))
                                                  * MS_PER_HOUR).astype(np.int64))
    n_off = rng.poisson(o.offpeak_per_day * len(days))
    starts.append(np.sort(rng.integers(0, len(days) * MS_PER_DAY, n_off)))
    start = np.concatenate(starts)
    duration = np.round(o.duration_minutes_median * np.exp(o.duration_sigma * rng.standard_normal(len(start)))
                        * MS_PER_MINUTE).astype(np.int64)
    lo_r, hi_r = o.failure_rate_range
    rate = lo_r + rng.random(len(start)) * (hi_r - lo_r)
    order = np.argsort(start, kind="stable")
    start, end, rate = start[order], (start + np.maximum(duration, MS_PER_MINUTE))[order], rate[order]
    end = np.minimum(end, len(days) * MS_PER_DAY)
    # Disjoint by construction: an outage that starts inside the previous one is merged into it.
    begins = np.ones(len(start), dtype=bool)
    if len(start):
        begins[1:] = start[1:] >= np.maximum.accumulate(end)[:-1]
    group = np.cumsum(begins) - 1
    merged_end = np.zeros(begins.sum(), dtype=np.int64)
    np.maximum.at(merged_end, group, end)
    merged_rate = np.zeros(begins.sum())
    np.maximum.at(merged_rate, group, rate)
    return Outages(start[begins], merged_end, merged_rate)
