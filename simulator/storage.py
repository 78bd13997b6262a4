"""Reading and writing worlds: one ``<table>.parquet`` per table plus ``manifest.json``.

Writes are atomic: everything goes to a hidden temporary directory beside the
target, renamed into place only when complete; a failed or interrupted write
leaves nothing at the target. Generation can stream shard by shard into the
Parquet files (one row group per shard), so memory stays bounded by a shard.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from . import __version__
from .config import ConfigError, WorldConfig, from_mapping, to_mapping, validate
from .world import GLOBAL_TABLES, TABLES, World, global_tables, iter_shards, make_globals, resolve, with_progress

MANIFEST = "manifest.json"
TIME_CONVENTION = ("datetime64[ns] wall-clock times without a time zone, all on the platform's one "
                   "local clock; generated at millisecond resolution")


class OutputExistsError(FileExistsError):
    """The output directory exists and is not empty, and overwriting was not asked for."""


def check_output(path: Path, force: bool) -> None:
    """Refuse a target that is a file, or a non-empty directory unless ``force``."""
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"out: {str(path)!r} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()) and not force:
        raise OutputExistsError(f"out: {str(path)!r} exists and is not empty; pass force=True (--force) "
                                "to replace it")


@contextmanager
def atomic_directory(path: str | Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    check_output(path, force)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        check_output(path, force)
        old = path.parent / f".{path.name}.old-{os.getpid()}"
        if path.exists():
            path.rename(old)
        tmp.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# Parquet layout, chosen for write speed and file size (the values read back are the same
# either way): sorted ids and times as deltas, near-unique floats plain, every other column
# (categories, flags, counts, user and merchant ids) dictionary-encoded; snappy compression.
# Min/max statistics only for integer and time columns (ids, counts, times), which a reader
# may filter row groups on; for categories they are costly to compute and of no use.
DELTA_COLUMNS = frozenset({"txn_id", "event_time"})
PLAIN_COLUMNS = frozenset({"amount", "avg_txn_amount_last_7_days"})
CHUNKS_IN_FLIGHT = 2  # chunks handed to the writer threads and not yet written


def parquet_options(schema: pa.Schema) -> dict:
    """Keyword arguments for :class:`pyarrow.parquet.ParquetWriter`: per-column layout."""
    delta = {name: "DELTA_BINARY_PACKED" for name in schema.names if name in DELTA_COLUMNS}
    return {"compression": "snappy", "column_encoding": delta or None,
            "use_dictionary": [name for name in schema.names if name not in delta and name not in PLAIN_COLUMNS],
            "write_statistics": [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_temporal(f.type)]}


def _write(writer: pq.ParquetWriter, df: pd.DataFrame) -> None:
    writer.write_table(pa.Table.from_pandas(df, schema=writer.schema, preserve_index=False))


Observer = Callable[[Mapping[str, pd.DataFrame]], None]


def write_tables(path: str | Path, config: WorldConfig, seed: int, per_user: Iterable[dict[str, pd.DataFrame]],
                 global_: dict[str, pd.DataFrame], *, force: bool = False, observe: Observer | None = None) -> Path:
    """Write chunks of per-user tables (one row group each) and the global tables, atomically.

    Each file has a writer thread that appends its chunks in order (Arrow
    releases the GIL), so the next chunk is generated while earlier ones are
    written; at most :data:`CHUNKS_IN_FLIGHT` chunks wait to be written.
    ``observe``, if given, sees every chunk, then the global tables, as they are
    handed to the writers (e.g. :class:`simulator.summary.Tally`), so nothing
    needs to be read back.
    """
    path = Path(path)
    with atomic_directory(path, force=force) as tmp:
        writers: dict[str, pq.ParquetWriter] = {}
        threads: dict[str, ThreadPoolExecutor] = {}
        rows = {name: 0 for name in TABLES}
        in_flight: deque[list[Future]] = deque()

        def submit(name: str, df: pd.DataFrame) -> Future:
            if name not in writers:  # the file exists from the first chunk on
                schema = pa.Schema.from_pandas(df, preserve_index=False)
                writers[name] = pq.ParquetWriter(tmp / f"{name}.parquet", schema, **parquet_options(schema))
                threads[name] = ThreadPoolExecutor(1, thread_name_prefix=f"fraudworld-{name}")
            rows[name] += len(df)
            return threads[name].submit(_write, writers[name], df)

        try:
            for chunk in per_user:
                while len(in_flight) >= CHUNKS_IN_FLIGHT:
                    for future in in_flight.popleft():
                        future.result()  # raises a writer's error here
                in_flight.append([submit(name, df) for name, df in chunk.items()])
                if observe:
                    observe(chunk)
                del chunk  # the writer threads hold it until it is written
            while in_flight:
                for future in in_flight.popleft():
                    future.result()
        finally:
            for thread in threads.values():  # never close a file while it is being written
                thread.shutdown(wait=True, cancel_futures=True)
            for w in writers.values():
                w.close()
        for name, df in global_.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
            rows[name] = len(df)
        if observe:
            observe(global_)
        missing = [n for n in TABLES if not (tmp / f"{n}.parquet").exists()]
        if missing:
            raise ValueError(f"tables: {missing} were not written")
        manifest = {"package": "fraudworld", "version": __version__, "seed": seed,
                    "time_convention": TIME_CONVENTION, "row_counts": rows, "config": to_mapping(config)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return path


def write_world(path: str | Path, config: WorldConfig | None = None, *, seed: int = 0, force: bool = False,
                progress: bool = False, observe: Observer | None = None) -> Path:
    """Generate a world straight to disk, one shard at a time (bounded memory).

    The files are identical to ``generate(config, seed=seed).save(path)``;
    ``observe`` sees each shard's tables, then the global ones (see :func:`write_tables`).
    """
    config, seed = resolve(config, seed)
    check_output(Path(path), force)  # fail before the work, not after it
    g = make_globals(config, seed)
    shards = with_progress(iter_shards(config, seed, g), config, progress)
    return write_tables(path, config, seed, shards, global_tables(config, g), force=force, observe=observe)


def read_manifest(path: str | Path) -> dict:
    path = Path(path)
    try:
        return json.loads((path / MANIFEST).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"world: {str(path)!r} has no {MANIFEST}; is it a directory written by "
                                "'fraudworld generate' or World.save?") from None


def read_config(path: str | Path) -> tuple[WorldConfig, int]:
    """The validated config and the seed of a saved world, from its manifest."""
    path = Path(path)
    manifest = read_manifest(path)
    try:
        config = validate(from_mapping(WorldConfig, manifest["config"]))
    except (ConfigError, KeyError) as exc:
        raise ConfigError(f"world: {str(path)!r} has an unreadable config in {MANIFEST} ({exc})") from None
    return config, int(manifest["seed"])


def _table_file(path: str | Path, name: str) -> Path:
    path = Path(path)
    file = path / f"{name}.parquet"
    if not file.exists():
        raise FileNotFoundError(f"world: {str(path)!r} is missing {file.name}")
    return file


def read_table(path: str | Path, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One table of a saved world: every column, or only ``columns`` (``[]``: none, only the row count)."""
    return pd.read_parquet(_table_file(path, name), columns=columns)


def read_row_groups(path: str | Path, name: str, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """One table of a saved world, row group by row group (written by generation: one per shard)."""
    file = pq.ParquetFile(_table_file(path, name))
    for i in range(file.num_row_groups):
        yield file.read_row_group(i, columns=columns).to_pandas()


def read_world(path: str | Path) -> World:
    """Load every table of a saved world, with its config and seed."""
    config, seed = read_config(path)
    return World(config, seed, **{name: read_table(path, name) for name in TABLES})


__all__ = ["GLOBAL_TABLES", "write_world", "read_world", "read_config", "read_table", "read_row_groups", "write_tables",
           "atomic_directory", "read_manifest"]
