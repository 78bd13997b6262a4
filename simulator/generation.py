"""Generating a world onto disk, shard by shard, on any engine (:mod:`simulator.engines`).

Shards are fixed by the config (:data:`~simulator.world.SHARD_SIZE` users each),
never by the number of workers, and a shard's tables depend only on the shard,
the seed and the small global tables; so every engine, grouping and order gives
the same world. A task covers one or a few consecutive shards
(``shards_per_task``) in three steps:

1. *generate* its shards' tables, transaction ids numbered from 0 in each
   shard; the tables stay where they were made;
2. *count* their purchases: a few integers go to the driver;
3. *write*: once every earlier shard is counted, the driver knows where the
   task's transaction ids start (ids are consecutive across the world, in
   shard order, then time order); the task shifts them and writes one part
   per shard and table (a temporary name, then renamed) and returns each
   part's rows and content digest, and the shards' summary tally.

The driver writes the global tables first and the manifest last, all inside
one temporary directory renamed into place at the end. At most a few tasks are
generated and not yet written at a time, so memory per worker stays at a few
shards whatever the size of the world. A task that fails is run again, up to
``retries`` times (it writes whole parts or nothing, so a rerun is harmless);
one that keeps failing stops the world with a :class:`ShardError` naming its
shards, and nothing is left at the target.
"""

from __future__ import annotations

import json
import time
from collections import deque
from concurrent.futures import Executor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from .config import WorldConfig, from_mapping, to_mapping
from .engines import Engine, ExecutorEngine, cpu_count, open_engine
from .storage import Part, atomic_directory, check_output, make_table_dirs, write_manifest, write_part
from .summary import Tally
from .world import (SHARD_SIZE, TABLES, Globals, global_tables, make_globals, n_shards, resolve, shard_tables,
                    with_txn_offset)

WRITE_TIMEOUT = 120  # seconds to let running writes finish after a failure, before the output is removed


class ShardError(RuntimeError):
    """A task failed on every attempt; the message names its shards and the last error."""


@lru_cache(maxsize=4)
def _globals_of(config_json: str, seed: int) -> Globals:
    return make_globals(from_mapping(WorldConfig, json.loads(config_json)), seed)


def shard_globals(config: WorldConfig, seed: int) -> Globals:
    """The global tables every shard reads, made once per process (the driver's and each worker's)."""
    return _globals_of(json.dumps(to_mapping(config), sort_keys=True, default=str), seed)


def generate_task(config: WorldConfig, seed: int, shards: range) -> list[dict[str, pd.DataFrame]]:
    """Step 1: the per-user tables of ``shards``, transaction ids from 0 in each."""
    g = shard_globals(config, seed)
    return [shard_tables(config, seed, shard, g, 0) for shard in shards]


def count_task(generated: list[dict[str, pd.DataFrame]]) -> list[int]:
    """Step 2: the purchases of each generated shard."""
    return [len(tables["transactions"]) for tables in generated]


@dataclass
class Written:
    """Step 3's answer for one shard: its parts, and its summary tally if one was asked for."""

    parts: list[Part]
    tally: Tally | None


def write_task(generated: list[dict[str, pd.DataFrame]], shards: range, first_txn_id: int, directory: Path,
               config: WorldConfig, seed: int, tally: bool) -> list[Written]:
    """Step 3: shift the shards' transaction ids to start at ``first_txn_id`` and write their parts.

    The generated tables are not modified (a rerun of this step shifts them again from 0)."""
    out = []
    offset = first_txn_id
    for shard, tables in zip(shards, generated):
        tables = with_txn_offset(tables, offset)
        parts = [write_part(directory, name, shard, df) for name, df in tables.items()]
        counted = None
        if tally:
            counted = Tally(config, seed)
            counted.add(tables)
        out.append(Written(parts, counted))
        offset += len(tables["transactions"])
    return out


@dataclass
class _Task:
    index: int
    shards: range
    generated: Any = None  # the engine's futures of steps 1-3
    counted: Any = None
    written: Any = None
    attempts: int = 0
    first_txn_id: int = 0
    n_users: int = 0

    def name(self) -> str:
        first, last = self.shards[0], self.shards[-1]
        users = f"users {first * SHARD_SIZE:,}-{min((last + 1) * SHARD_SIZE, self.n_users) - 1:,}"
        return f"shard {first} ({users})" if first == last else f"shards {first}-{last} ({users})"


class _Run:
    """The driver's side of one world: submits the steps, in order and within a window, with retries."""

    def __init__(self, engine: Engine, config: WorldConfig, seed: int, directory: Path, tally: bool, retries: int):
        self.engine, self.config, self.seed, self.directory = engine, config, seed, directory
        self.tally, self.retries = tally, retries

    def generate(self, task: _Task) -> None:
        task.generated = self.engine.submit(generate_task, self.config, self.seed, task.shards)
        task.counted = self.engine.apply(count_task, task.generated)

    def write(self, task: _Task) -> None:
        task.written = self.engine.submit(write_task, task.generated, task.shards, task.first_txn_id, self.directory,
                                          self.config, self.seed, self.tally)

    def outcome(self, task: _Task, step: str):
        """The result of ``step`` ("counted" or "written"), running it (and what it needs) again on failure."""
        while True:
            try:
                return getattr(task, step).result()
            except Exception as exc:
                task.attempts += 1
                if task.attempts > self.retries:
                    raise ShardError(f"{task.name()} failed {task.attempts} time(s); last error: "
                                     f"{type(exc).__name__}: {exc}") from exc
                (self.generate if step == "counted" else self.write)(task)

    def _start(self, task: _Task, live: dict[int, _Task]) -> None:
        self.generate(task)
        live[task.index] = task

    def _collect(self, task: _Task, live: dict[int, _Task]) -> list[Written]:
        written = self.outcome(task, "written")
        del live[task.index]
        task.generated = task.counted = task.written = None  # free the shard's tables
        return written

    def run(self, tasks: list[_Task], order: Sequence[int], window: int) -> Iterator[list[Written]]:
        """Each task's written shards, in task order (the tasks are submitted in ``order``)."""
        waiting = deque(tasks[i] for i in order)
        live: dict[int, _Task] = {}  # generated or being generated, not yet written
        writing: deque[_Task] = deque()
        next_task = next_txn_id = 0
        try:
            while next_task < len(tasks) or writing:
                while waiting and len(live) < window:
                    self._start(waiting.popleft(), live)
                task = tasks[next_task] if next_task < len(tasks) else None
                if task is not None and task.index in live:
                    task.first_txn_id = next_txn_id  # every earlier shard is counted
                    next_txn_id += sum(self.outcome(task, "counted"))
                    self.write(task)
                    writing.append(task)
                    next_task += 1
                    while writing and writing[0].written.done():
                        yield self._collect(writing.popleft(), live)
                elif writing:
                    yield self._collect(writing.popleft(), live)
                else:  # submitted late (reverse order) and the window is full: the ids wait on it
                    waiting.remove(task)
                    self._start(task, live)
        except BaseException:
            # Drop what has not reached its write; then let the writes end (they are short), so none
            # writes into a directory being removed.
            try:
                self.engine.cancel([f for t in live.values() if t.written is None
                                    for f in (t.generated, t.counted) if f is not None])
            finally:
                self.engine.wait([t.written for t in live.values() if t.written is not None], WRITE_TIMEOUT)
            raise


def write_world(path: str | Path, config: WorldConfig | None = None, *, seed: int = 0, force: bool = False,
                progress: bool = False, tally: Tally | None = None, engine: Engine | Executor | None = None,
                shards_per_task: int = 1, order: str = "forward", retries: int = 1) -> Path:
    """Generate a world straight to disk (``config=None``: the default preset), shard by shard.

    ``engine``: an :class:`~simulator.engines.Engine` (see :func:`~simulator.engines.open_engine`),
    any ``concurrent.futures`` executor, or ``None`` for threads in this process. The world is
    the same whatever the engine, ``shards_per_task`` or ``order`` (``"forward"`` or ``"reverse"``:
    the order tasks are submitted in) and the same as ``generate(config, seed=seed).save(path)``.
    ``tally``, if given, receives the summary's counts of every shard and of the global tables.
    """
    config, seed = resolve(config, seed)
    path = Path(path)
    check_output(path, force)  # fail before the work, not after it
    if not isinstance(shards_per_task, int) or isinstance(shards_per_task, bool) or shards_per_task < 1:
        raise ValueError(f"shards_per_task: {shards_per_task!r} must be a whole number of at least 1")
    if order not in ("forward", "reverse"):
        raise ValueError(f"order: {order!r} is not one of forward, reverse")
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries: {retries!r} must be a whole number of at least 0")
    if engine is not None and not isinstance(engine, (Engine, Executor)):
        raise TypeError(f"engine: {engine!r} is not an Engine (see simulator.engines.open_engine) nor a "
                        "concurrent.futures executor")
    if engine is None:
        with open_engine("local") as local:
            return write_world(path, config, seed=seed, force=force, progress=progress, tally=tally, engine=local,
                               shards_per_task=shards_per_task, order=order, retries=retries)
    if isinstance(engine, Executor):
        engine = ExecutorEngine(engine, getattr(engine, "_max_workers", cpu_count()), name=type(engine).__name__)
    started = time.perf_counter()
    total = n_shards(config)
    tasks = [_Task(i, range(lo, min(lo + shards_per_task, total)), n_users=config.population.n_users)
             for i, lo in enumerate(range(0, total, shards_per_task))]
    order_ = range(len(tasks)) if order == "forward" else range(len(tasks) - 1, -1, -1)
    with atomic_directory(path, force=force) as tmp:
        make_table_dirs(tmp, TABLES)
        globals_ = global_tables(config, shard_globals(config, seed))
        parts: dict[str, list[Part]] = {name: [write_part(tmp, name, 0, df)] for name, df in globals_.items()}
        if tally is not None:
            tally.add(globals_)
        bar = _bar(total, progress)
        try:
            for written in _Run(engine, config, seed, tmp, tally is not None, retries).run(tasks, order_,
                                                                                          engine.slots + 1):
                for shard in written:
                    for part in shard.parts:
                        parts.setdefault(part.table, []).append(part)
                    if tally is not None:
                        tally.merge(shard.tally)
                bar.update(len(written))
        finally:
            bar.close()
        for stray in tmp.glob("*/.part-*.tmp"):  # of a task killed mid-write and run again elsewhere
            stray.unlink(missing_ok=True)
        run = {**engine.describe(), "shards_per_task": shards_per_task, "order": order,
               "seconds": round(time.perf_counter() - started, 3)}
        write_manifest(tmp, config, seed, {name: parts[name] for name in TABLES}, shard_size=SHARD_SIZE,
                       shards=total, run=run)
    return path


def _bar(total: int, progress: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="generating", unit="shard", disable=not progress)


__all__ = ["ShardError", "write_world"]
