"""Model tables built shard by shard: one task per shard of users, on any executor, one Parquet part each.

Every value in a row of a model table comes from its purchase's user alone: the nightly
snapshots joined as of the purchase by user, the serving log and the labels by ``txn_id``,
the online windows recomputed over the user's earlier purchases (within the user's shard, as
the service computed them), the user's context, the evaluation sample by a hash of
``txn_id``. Every per-user table is split into shards of consecutive user ids
(:data:`simulator.world.SHARD_SIZE`), so a world's table is its shards' tables put in
decision order (``event_time``, then ``txn_id``). :func:`build_shardwise` builds each shard's
with the in-memory builders of :mod:`simulator.pipelines`, in a task of its own on any
``concurrent.futures``-style executor (threads, processes, ``distributed.Client(...).get_executor()``);
:func:`read_model_table` gives back the table the in-memory builder gives.

On disk a table is a directory of ``part-{shard:06d}.parquet``, one per shard -- a shard
without a purchase in the table writes a part without rows, so every table has its schema --
and ``manifest.json`` (kind, window, switches, sample, features, categories, rows per part).
It is written atomically (:func:`simulator.storage.atomic_directory`): after a failed task
nothing is at the output. Tasks write their parts themselves (in the world's Parquet layout, to a
temporary name, then renamed: :func:`simulator.storage.write_parquet`), so workers on other
machines need ``out`` on a file system they share.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from .generation import ShardError
from .lookup import sorted_by
from .pipelines import (CORRECT, ModelTable, Switches, build_training_set, check_mature_rows, extraction_time,
                        production_table)
from .sample import FULL, EvaluationSample
from .storage import atomic_directory, part_name, write_parquet
from .world import World

KINDS = ("training", "production")
MANIFEST = "manifest.json"
DECISION_ORDER = ["event_time", "txn_id"]


def _categories(frame: pd.DataFrame) -> dict[str, dict]:
    return {c: {"categories": frame[c].cat.categories.tolist(), "ordered": bool(frame[c].cat.ordered)}
            for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)}


def _build_part(load_shard: Callable[[int], World], shard: int, directory: str, kind: str, start: pd.Timestamp,
                end: pd.Timestamp, extracted_at: pd.Timestamp | None, switches: Switches,
                sample: EvaluationSample) -> dict:
    """One task: build ``shard``'s table and write it into ``directory``; its rows, features and categories."""
    world = load_shard(shard)
    if kind == "training":
        table = build_training_set(world, start=start, end=end, extracted_at=extracted_at, switches=switches,
                                   allow_empty=True)
    else:
        table = production_table(world, start=start, end=end, switches=switches, sample=sample)
    write_parquet(Path(directory) / part_name(shard), table.frame)
    return {"rows": len(table.frame), "features": table.features, "categories": _categories(table.frame)}


def _results(shards: list[int], futures: list) -> list[dict]:
    """The tasks' results in shard order. On a failure the tasks not started are cancelled and the
    running ones waited for (they write into the output's temporary directory), then it is raised."""
    results = []
    for shard, future in zip(shards, futures):
        try:
            results.append(future.result())
        except BaseException as exc:  # an interrupt too: no task may still write once the output is removed
            for other in futures:
                other.cancel()
            for other in futures:
                try:
                    other.result()
                except BaseException:  # cancelled, or failed too: the first failure is the one reported
                    pass
            if not isinstance(exc, Exception):
                raise
            raise ShardError(f"shard {shard} failed: {type(exc).__name__}: {exc}") from exc
    return results


def _schema(shards: list[int], parts: list[dict]) -> tuple[list[str], dict]:
    """The features and categories every part with rows has (a shard without rows does not count: read
    from empty parts, it may have lost its categories, which Parquet keeps only with values)."""
    filled = [(s, p) for s, p in zip(shards, parts) if p["rows"]] or [(shards[0], parts[0])]
    first_shard, first = filled[0]
    for shard, part in filled:
        if (part["features"], part["categories"]) != (first["features"], first["categories"]):
            raise ValueError(f"shard {shard}: its table has other features or categories than shard {first_shard}'s; "
                             "every shard's World must carry the whole world's categories")
    return first["features"], first["categories"]


def build_shardwise(load_shard: Callable[[int], World], shards: Iterable[int], executor, out: str | Path, *,
                    kind: str = "training", start, end, extracted_at=None, switches: Switches = CORRECT,
                    sample: EvaluationSample = FULL, force: bool = False) -> Path:
    """Build a model table shard by shard on ``executor`` and write it to ``out``; returns ``out``.

    ``kind="training"``: :func:`~simulator.pipelines.build_training_set` -- purchases in ``[start, end)``
    (with a maturity cutoff, those old enough at ``extracted_at``, default ``end``), labels reported by
    ``extracted_at``. ``kind="production"``: :func:`~simulator.pipelines.production_table` -- purchases in
    ``[start, end)`` with features as production served them, eventual labels, the rows of ``sample``.

    A task runs ``load_shard(shard)``: a World of that shard's users (all their rows, world-wide
    ``txn_id``, the world's dtypes) and the global tables, as ``read_shard(path, shard)`` reads
    it; for process or Dask executors, a picklable callable (a module-level function, or a
    ``functools.partial`` of one). A failing task raises :class:`~simulator.generation.ShardError`
    naming its shard, and nothing is left at ``out``; a non-empty ``out`` is refused unless ``force``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not allowed; choose one of {KINDS}")
    if kind == "training":
        extracted_at = extraction_time(end, extracted_at)
        if sample.rate != 1:
            raise ValueError(f"sample: {sample!r}; a training table holds every purchase (the sample is for production)")
    elif extracted_at is not None:
        raise ValueError(f"extracted_at: {extracted_at!r}; a production table has eventual labels, no extraction time")
    shards = list(shards)
    if not shards or len(set(shards)) != len(shards):
        raise ValueError(f"shards: {shards!r}; expected one or more distinct shard numbers")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    with atomic_directory(out, force=force) as tmp:
        futures = [executor.submit(_build_part, load_shard, shard, str(tmp), kind, start, end, extracted_at, switches,
                                   sample) for shard in shards]
        parts = _results(shards, futures)
        for stray in tmp.glob(".part-*.tmp"):  # of a task killed mid-write
            stray.unlink(missing_ok=True)
        features, categories = _schema(shards, parts)
        rows = sum(p["rows"] for p in parts)
        if kind == "training":
            check_mature_rows(rows, start=start, end=end, extracted_at=extracted_at, switches=switches)
        manifest = {"kind": kind, "start": str(start), "end": str(end),
                    "extracted_at": None if extracted_at is None else str(extracted_at),
                    "switches": asdict(switches), "sample": asdict(sample), "features": features,
                    "categories": categories, "rows": rows,
                    "parts": {part_name(s): p["rows"] for s, p in zip(shards, parts)}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return Path(out)


def read_model_table(path: str | Path) -> ModelTable:
    """The table :func:`build_shardwise` wrote to ``path``: its parts in decision order, with the
    in-memory builder's dtypes, features and switches."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    dtypes = {c: pd.CategoricalDtype(d["categories"], ordered=d["ordered"]) for c, d in manifest["categories"].items()}
    parts = [pd.read_parquet(path / name).astype(dtypes) for name in manifest["parts"]]
    frame = sorted_by(pd.concat(parts, ignore_index=True), DECISION_ORDER).reset_index(drop=True)
    return ModelTable(frame, manifest["features"], Switches(**manifest["switches"]))
