"""The one experiment every lesson runs: train, evaluate offline, replay production.

A team extracts a training table at ``extracted_at`` (the builder, with some
switches) and reports the offline metric by cross-validation: the table is cut
into contiguous time blocks, and each block is scored by a model fitted on the
others. The model fitted on the whole table is deployed at ``extracted_at`` and
replayed on the production window. The gap between the two numbers is the
lesson.

Both are scored on the evaluation sample (:mod:`simulator.sample`): every
purchase labelled fraud and a tenth of the others, with weights, the same
purchases for every variant. Models are fitted on full tables.

The model is the lessons' own unless ``model`` names another: any scikit-learn
classifier or a factory of one (:func:`simulator.estimators.as_learner`), fitted
and replayed the same way.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from typing import Iterator, Mapping

import numpy as np
import pandas as pd

from .estimators import as_learner
from .evaluate import frame_metrics
from .model import Learner, Model, fitted, in_background
from .lookup import sorted_by
from .pipelines import ModelTable, Switches, build_training_set, production_table, without_context
from .replay import scored
from .sample import EVALUATION, WEIGHT, EvaluationSample
from .world import World

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
    """One variant's deployed model, its training table, its cross-validated training rows and
    its production replay (both scored on the evaluation sample, with weights)."""

    name: str
    switches: Switches
    model: Model
    offline: pd.DataFrame | None  # training rows, each scored by a model that did not see it (None: not run)
    production: pd.DataFrame  # the production rows, scored by the deployed model
    production_table: ModelTable  # what the deployed model saw (shared between variants)
    table: ModelTable  # the training table the deployed model was fitted on


def evaluation_rows(table: ModelTable, sample: EvaluationSample) -> ModelTable:
    """The rows of ``table`` in the evaluation ``sample``, their weights multiplied by the sample's."""
    frame = table.frame
    kept, w = sample.keep(frame["txn_id"].to_numpy(), frame["label"].to_numpy())
    frame = frame[kept]
    return ModelTable(frame.assign(**{WEIGHT: w * frame[WEIGHT].to_numpy()}), table.features, table.switches)


def _block_training_rows(frame: pd.DataFrame, block: np.ndarray, k: int, table: ModelTable) -> ModelTable:
    """The other blocks' rows, with only what a learner reads (features and labels)."""
    return ModelTable(frame.loc[block != k, [*table.features, "label"]], table.features, table.switches)


def fit_and_score(table, seed: int, learner: Learner, *to_score: ModelTable) -> tuple[Model, list[pd.DataFrame]]:
    """The model ``learner`` fits on ``table`` (or on the table a callable builds) and each of
    ``to_score`` scored by it: the unit of work the fitting threads run."""
    model = fitted(table, seed, learner)
    return model, [scored(model, t) for t in to_score]


def _start_cross_validation(table: ModelTable, folds: int, seed: int, sample: EvaluationSample,
                            learner: Learner) -> list[Future]:
    """Start fitting one model per time block, on the other blocks' full rows, and scoring the
    block's evaluation rows with it; one future ``(model, [scored block])`` per block."""
    frame = sorted_by(table.frame, ["event_time", "txn_id"]).reset_index(drop=True)
    block = np.arange(len(frame)) * folds // len(frame)
    started = []
    for k in range(folds):
        held = evaluation_rows(ModelTable(frame[block == k], table.features, table.switches), sample)
        started.append(in_background(fit_and_score, partial(_block_training_rows, frame, block, k, table), seed,
                                     learner, held))
    return started


def _scored_blocks(started: list[Future]) -> pd.DataFrame:
    return pd.concat([f.result()[1][0] for f in started], ignore_index=True)


def production_key(switches: Switches) -> tuple:
    """What a production table depends on: production always serves point in time, so only
    the ``missing`` switch and whether online features are used (context columns are added
    or left out of the features of one shared table)."""
    return (switches.missing, switches.online_source == "none")


class _SharedTables:
    """Tables built once for the variants of one run: each is built with context features and
    handed out without them (:func:`without_context`) to the variants that lack the switch."""

    def __init__(self, build):
        self._build, self._built = build, {}

    def __call__(self, key, switches: Switches) -> ModelTable:
        if key not in self._built:
            self._built[key] = self._build(switches.but(context_features=True))
        table = self._built[key]
        return table if switches.context_features else without_context(table)


@dataclass(frozen=True)
class _Fitting:
    """An experiment whose models are being fitted and scored in the background (:func:`in_background`)."""

    name: str
    table: ModelTable
    production: ModelTable
    deployed: Future  # (model, [scored production])
    blocks: list[Future] | None

    def result(self) -> Experiment:
        model, (production,) = self.deployed.result()
        offline = None if self.blocks is None else _scored_blocks(self.blocks)
        return Experiment(self.name, self.table.switches, model, offline, production, self.production, self.table)


def _start(name: str, table: ModelTable, production: ModelTable, seed: int, sample: EvaluationSample,
           offline: bool, learner: Learner) -> _Fitting:
    return _Fitting(name, table, production, in_background(fit_and_score, table, seed, learner, production),
                    _start_cross_validation(table, CV_FOLDS, seed, sample, learner) if offline else None)


def evaluate(name: str, table: ModelTable, production: ModelTable, *, seed: int = 0,
             sample: EvaluationSample = EVALUATION, offline: bool = True, model=None) -> Experiment:
    """Deploy a model fitted on all of ``table`` and replay ``production``; with ``offline``,
    cross-validate on ``table`` too (the offline number; skip it when nothing reads it).
    ``model``: see :func:`run`."""
    return _start(name, table, production, seed, sample, offline, as_learner(model)).result()


def start(world: World, variants: Mapping[str, Switches], timeline: Timeline | None = None, *,
          seed: int = 0, sample: EvaluationSample = EVALUATION, offline: bool = True, model=None) -> "Started":
    """:func:`run`, returning as soon as every table is built and every model is being fitted:
    the caller can compute what needs no model meanwhile, then call ``.result()``."""
    learner = as_learner(model)
    timeline = timeline or Timeline.for_world(world)
    training = _SharedTables(lambda s: build_training_set(world, start=timeline.train_start, end=timeline.extracted_at,
                                                          switches=s))
    productions = _SharedTables(lambda s: production_table(world, start=timeline.extracted_at,
                                                           end=timeline.production_end, switches=s, sample=sample))
    fitting = []
    for name, switches in variants.items():
        table = training(switches.but(context_features=True), switches)
        production = productions(production_key(switches), switches)
        fitting.append(_start(name, table, production, seed, sample, offline, learner))
    return Started(fitting)


@dataclass(frozen=True)
class Started:
    """Experiments whose models are being fitted; ``result()`` waits for them."""

    fitting: list

    @property
    def tables(self) -> dict[str, ModelTable]:
        """Each variant's training table (built already)."""
        return {f.name: f.table for f in self.fitting}

    def each(self) -> Iterator[Experiment]:
        """Each experiment as soon as its models are done, in the order started (the caller's work on
        one overlaps the fitting of the next)."""
        return (f.result() for f in self.fitting)

    def result(self) -> dict[str, Experiment]:
        return {e.name: e for e in self.each()}


def run(world: World, variants: Mapping[str, Switches], timeline: Timeline | None = None, *,
        seed: int = 0, sample: EvaluationSample = EVALUATION, offline: bool = True,
        model=None) -> dict[str, Experiment]:
    """Train and evaluate each variant on the same world and timeline.

    Production is replayed on the evaluation ``sample`` (the same purchases for
    every variant); production tables are built once per :func:`production_key`
    and training tables once per switches but ``context_features``, and shared. ``offline=False`` skips the cross-validation. Tables are built
    while the previous variants' models are fitted and scored. ``model``: the
    classifier to fit (:func:`simulator.estimators.as_learner`; default, the
    lessons' own).
    """
    return start(world, variants, timeline, seed=seed, sample=sample, offline=offline, model=model).result()


def offline_vs_production(experiments: Mapping[str, Experiment]) -> pd.DataFrame:
    """One row per experiment and setting (offline cross-validation, production replay) with the
    metrics, weighted by the evaluation sample."""
    rows = []
    for name, e in experiments.items():
        if e.offline is None:
            raise ValueError(f"experiments: {name!r} was run without its offline cross-validation (offline=False)")
        for setting, frame in (("offline", e.offline), ("production", e.production)):
            rows.append({"experiment": name, "setting": setting, **frame_metrics(frame)})
    return pd.DataFrame(rows)
