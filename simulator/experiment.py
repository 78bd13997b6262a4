"""The one experiment every lesson runs: train, evaluate offline, replay production.

A team extracts a training table at ``extracted_at`` (the builder, with some
switches) and reports the offline metric by cross-validation: the table is cut
into contiguous time blocks, and each block is scored by a model fitted on the
others. The model fitted on the whole table is deployed at ``extracted_at`` and
replayed on the production window. The gap between the two numbers is the
lesson.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Callable, Mapping, TypeVar

import numpy as np
import pandas as pd

from .evaluate import metrics
from .model import Model, fit
from .pipelines import ModelTable, Switches, build_training_set, production_table
from .replay import scored
from .world import World

T = TypeVar("T")
CV_FOLDS = 3
FEATURE_WARMUP_DAYS = 30  # the world starts cold: 30-day features need a month of history


@dataclass(frozen=True)
class Timeline:
    """When the team trains, extracts and deploys, and how long production runs.

    Training purchases: ``[train_start, extracted_at)``; production:
    ``[extracted_at, production_end)``.
    """

    train_start: pd.Timestamp
    extracted_at: pd.Timestamp
    production_end: pd.Timestamp

    @classmethod
    def for_world(cls, world: World, *, extract_fraction: float = 0.5) -> "Timeline":
        """After the features' warm-up, train until mid-horizon, then production to the end."""
        start = pd.Timestamp(world.config.horizon.start)
        days = world.config.horizon.days
        extract_day = round(days * extract_fraction)
        if not FEATURE_WARMUP_DAYS + 14 <= extract_day < days:
            raise ValueError(f"horizon.days: {days} is too short for a timeline extracting at "
                             f"{extract_fraction:.0%} of it; the extraction day must be at least "
                             f"{FEATURE_WARMUP_DAYS + 14} and before the horizon's end")
        return cls(start + pd.Timedelta(days=FEATURE_WARMUP_DAYS), start + pd.Timedelta(days=extract_day),
                   start + pd.Timedelta(days=days))

    def first_days_of_production(self, days: int) -> "Timeline":
        """The same timeline with production cut to its first ``days`` days."""
        if days < 1:
            raise ValueError(f"days: {days}; production needs at least one day")
        return replace(self, production_end=min(self.production_end, self.extracted_at + pd.Timedelta(days=days)))


@dataclass(frozen=True)
class Experiment:
    """One variant's deployed model, its cross-validated training rows and its production replay."""

    name: str
    switches: Switches
    model: Model
    offline: pd.DataFrame  # the training rows, each scored by a model that did not see it
    production: pd.DataFrame  # the production rows, scored by the deployed model
    production_table: ModelTable  # what the deployed model saw (shared between variants)


def cross_validated(table: ModelTable, *, folds: int = CV_FOLDS, seed: int = 0) -> pd.DataFrame:
    """Every row of ``table`` scored by a model that did not see its time block."""
    frame = table.frame.sort_values(["event_time", "txn_id"], kind="stable").reset_index(drop=True)
    block = np.arange(len(frame)) * folds // len(frame)
    parts = []
    for k in range(folds):
        train = ModelTable(frame[block != k], table.features, table.switches)
        held = ModelTable(frame[block == k], table.features, table.switches)
        parts.append(scored(fit(train, seed=seed), held))
    return pd.concat(parts, ignore_index=True)


def production_key(switches: Switches) -> tuple:
    """What a production table depends on: production always serves point in time, so only
    the ``missing`` and ``context_features`` switches and whether online features are used."""
    return (switches.missing, switches.context_features, switches.online_source == "none")


def evaluate(name: str, table: ModelTable, production: ModelTable, *, seed: int = 0) -> Experiment:
    """Cross-validate on ``table``, deploy a model fitted on all of it, replay ``production``."""
    model = fit(table, seed=seed)
    return Experiment(name, table.switches, model, cross_validated(table, seed=seed),
                      scored(model, production), production)


def run(world: World, variants: Mapping[str, Switches], timeline: Timeline | None = None, *,
        seed: int = 0) -> dict[str, Experiment]:
    """Train and evaluate each variant on the same world and timeline.

    Production tables are built once per :func:`production_key` and shared.
    """
    timeline = timeline or Timeline.for_world(world)
    productions = {}
    out = {}
    for name, switches in variants.items():
        table = build_training_set(world, start=timeline.train_start, end=timeline.extracted_at,
                                   switches=switches)
        key = production_key(switches)
        if key not in productions:
            productions[key] = production_table(world, start=timeline.extracted_at,
                                                end=timeline.production_end, switches=switches)
        out[name] = evaluate(name, table, productions[key], seed=seed)
    return out


def offline_vs_production(experiments: Mapping[str, Experiment]) -> pd.DataFrame:
    """One row per experiment and setting (offline cross-validation, production replay) with the metrics."""
    rows = []
    for name, e in experiments.items():
        for setting, frame in (("offline", e.offline), ("production", e.production)):
            rows.append({"experiment": name, "setting": setting,
                         **metrics(frame["label"].to_numpy(), frame["score"].to_numpy())})
    return pd.DataFrame(rows)


def per_world(fn: Callable[[World], T]) -> Callable[[World], T]:
    """Memoise ``fn(world)`` for the last world it saw: a lesson's figures share one run."""
    last: dict = {}

    @functools.wraps(fn)
    def wrapper(world: World) -> T:
        if last.get("world") is not world:
            last.clear()
            last.update(world=world, value=fn(world))
        return last["value"]

    return wrapper
