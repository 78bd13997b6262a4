"""Worlds on disk: one Parquet dataset per table, and ``manifest.json``.

Layout::

    <world>/manifest.json                     written last: config, seed, rows and digest per table
    <world>/<table>/part-000000.parquet       a per-user table has one part per user shard, in
    <world>/<table>/part-000001.parquet ...   shard order, its rows in the order generated

The global tables (merchants, outages) are one part each. A table is its parts
read in order; every part can be read alone (:func:`read_table` of one shard,
:func:`open_dataset` for a lazy pyarrow dataset over all of them). Worlds
written before datasets, with one ``<table>.parquet`` file per table, are read
as they are.

Writes are atomic twice over. A world is written into a hidden temporary
directory beside the target and renamed into place only when complete, so a
failed or interrupted write leaves nothing at the target. Each part is written
to a temporary name in its table's folder and renamed, so a task that is run
again replaces its part whole; the folders are made once, by the driver, so a
task still running after a failure cannot recreate them.

This module knows tables, not worlds: :mod:`simulator.world` reads a world
with it, :mod:`simulator.generation` writes one.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from . import __version__
from .config import ConfigError, WorldConfig, from_mapping, to_mapping, validate

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 2  # 1: one <table>.parquet per table; 2: a dataset (folder of parts) per table
TIME_CONVENTION = ("datetime64[ns] wall-clock times without a time zone, all on the platform's one "
                   "local clock; generated at millisecond resolution")
LIBRARIES = ("numpy", "pandas", "pyarrow")  # their versions are recorded in the manifest
# The content digest of every part and table (a checksum, not a seal: 128-bit XXH3 hashes
# at memory speed, some six times faster than SHA-256, and releases the GIL while it does).
DIGEST = "xxh3_128"


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
# either way): integers and times delta-encoded (ids, counts, times; on a shard of the
# default world a fifth faster to write than dictionaries, for 2% more bytes), floats plain
# (they are nearly all distinct), categories and flags dictionary-encoded; LZ4 compression (a
# third faster to write than snappy, and 2% smaller). Min/max statistics only for integer and
# time columns, which a reader may filter row groups on; for categories they are costly to
# compute and of no use.
def parquet_options(schema: pa.Schema) -> dict:
    """Keyword arguments for :class:`pyarrow.parquet.ParquetWriter`: per-column layout."""
    ordered = [f.name for f in schema if pa.types.is_integer(f.type) or pa.types.is_temporal(f.type)]
    return {"compression": "lz4", "column_encoding": dict.fromkeys(ordered, "DELTA_BINARY_PACKED") or None,
            "use_dictionary": [f.name for f in schema if f.name not in ordered and not pa.types.is_floating(f.type)],
            "write_statistics": ordered}


@dataclass(frozen=True)
class Part:
    """A written part: its table, shard, row count, :func:`frame_digest` and each categorical column's
    categories (Parquet keeps them only with values: an empty part would lose them)."""

    table: str
    shard: int
    rows: int
    digest: str
    categories: dict[str, list]


def part_name(shard: int) -> str:
    return f"part-{shard:06d}.parquet"


def make_table_dirs(directory: Path, names: Iterable[str]) -> None:
    """The table folders of a world being written (tasks only write into existing folders)."""
    for name in names:
        (directory / name).mkdir()


def write_parquet(final: Path, df: pd.DataFrame) -> None:
    """Write ``df`` to the Parquet file ``final`` in the :func:`parquet_options` layout: to a temporary
    name beside it, then renamed, so a reader (or a task run again) sees the whole file or none."""
    tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
    table = pa.Table.from_pandas(df, preserve_index=False)
    try:
        pq.write_table(table, tmp, **parquet_options(table.schema))
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_part(directory: Path, name: str, shard: int, df: pd.DataFrame) -> Part:
    """Write ``df`` as part ``shard`` of table ``name`` under ``directory`` (:func:`write_parquet`)."""
    write_parquet(Path(directory) / name / part_name(shard), df)
    categories = {c: d.categories.tolist() for c, d in df.dtypes.items() if isinstance(d, pd.CategoricalDtype)}
    return Part(name, shard, len(df), frame_digest(df), categories)


def frame_digest(df: pd.DataFrame) -> str:
    """:data:`DIGEST` of a frame's content: column names, dtypes and values (not of any file's bytes)."""
    digest = xxhash.xxh3_128()
    for name, column in df.items():
        digest.update(f"{name}\0{column.dtype}\0".encode())
        if isinstance(column.dtype, pd.CategoricalDtype):
            digest.update("\0".join(map(str, column.cat.categories)).encode())
            values = column.cat.codes.to_numpy()
        elif isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufmM":
            values = column.to_numpy()
        elif isinstance(column.dtype, pd.api.extensions.ExtensionDtype) and column.dtype.kind in "biuf":
            digest.update(column.isna().to_numpy())  # nullable numbers: where the nulls are, then the values
            values = column.to_numpy(dtype=column.dtype.numpy_dtype, na_value=0)
        else:  # other extension arrays (strings): pandas' own row hash
            values = pd.util.hash_pandas_object(column, index=False).to_numpy()
        digest.update(np.ascontiguousarray(values).view(np.uint8))
    return digest.hexdigest()


def table_digest(parts: list[Part]) -> str:
    """:data:`DIGEST` over a table's part digests in shard order: the same data in the same parts, the same digest."""
    return xxhash.xxh3_128("".join(p.digest for p in sorted(parts, key=lambda p: p.shard)).encode()).hexdigest()


def write_manifest(directory: Path, config: WorldConfig, seed: int, parts: Mapping[str, list[Part]], *,
                   shard_size: int, shards: int, run: dict | None = None) -> dict:
    """Write ``manifest.json``: what the world is (config, seed, layout, rows and digest per table,
    versions) and, under ``run``, how this copy was made (engine, workers, seconds)."""
    manifest = {
        "package": "fraudworld", "version": __version__, "format": MANIFEST_FORMAT, "seed": seed,
        "time_convention": TIME_CONVENTION,
        "row_counts": {name: sum(p.rows for p in ps) for name, ps in parts.items()},
        "tables": {name: {"parts": len(ps), "rows": sum(p.rows for p in ps), DIGEST: table_digest(ps),
                          "categories": ps[0].categories} for name, ps in parts.items()},
        "shard_size": shard_size, "shards": shards,
        "libraries": {name: version(name) for name in LIBRARIES},
        "config": to_mapping(config),
    }
    if run is not None:
        manifest["run"] = run
    (Path(directory) / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


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


def table_files(path: str | Path, name: str) -> list[Path]:
    """The files of table ``name``, in order: its parts, or a world's one ``<name>.parquet`` of old."""
    path = Path(path)
    folder, single = path / name, path / f"{name}.parquet"
    if folder.is_dir():
        return sorted(folder.glob("part-*.parquet"), key=lambda f: int(f.stem.removeprefix("part-")))
    if single.is_file():
        return [single]
    raise FileNotFoundError(f"world: {str(path)!r} is missing table {name!r} (a folder {name}/ of parts)")


def read_table(path: str | Path, name: str, columns: list[str] | None = None, *, shard: int | None = None
               ) -> pd.DataFrame:
    """Table ``name`` of a saved world: every column, or only ``columns`` (``[]``: none, only the row
    count); all of it, or only the part of one user ``shard``."""
    files = table_files(path, name)
    if shard is not None:
        files = [f for f in files if f.name == part_name(shard)]
        if not files:
            raise FileNotFoundError(f"world: {str(path)!r} has no part {part_name(shard)} of {name!r}")
    if columns == []:  # the row count (pyarrow's concat_tables drops the rows of column-less tables)
        return pd.DataFrame(index=pd.RangeIndex(sum(pq.ParquetFile(f).metadata.num_rows for f in files)))
    tables = [pq.read_table(f, columns=columns) for f in files]
    frame = (pa.concat_tables(tables) if len(tables) > 1 else tables[0]).to_pandas()
    categories = read_manifest(path).get("tables", {}).get(name, {}).get("categories", {})
    for column, values in categories.items():  # an empty part, or a table without rows, lost them
        if column in frame and list(frame[column].cat.categories) != values:
            frame[column] = frame[column].cat.set_categories(values)
    return frame


def shard_count(path: str | Path) -> int:
    """How many user shards a saved world has (from its manifest)."""
    manifest = read_manifest(path)
    if "shards" not in manifest:
        raise ValueError(f"world: {str(path)!r} was written before worlds had parts per shard; "
                         "generate it again to read it shard by shard")
    return int(manifest["shards"])


def read_parts(path: str | Path, name: str, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
    """Table ``name`` of a saved world, a row group at a time (generation writes one per part)."""
    for f in table_files(path, name):
        file = pq.ParquetFile(f)
        for i in range(file.num_row_groups):
            yield file.read_row_group(i, columns=columns).to_pandas()


def open_dataset(path: str | Path, name: str):
    """Table ``name`` as a lazy :class:`pyarrow.dataset.Dataset`: nothing is read until asked, so a
    world larger than memory can be filtered, projected and scanned part by part."""
    import pyarrow.dataset as ds
    return ds.dataset([str(f) for f in table_files(path, name)], format="parquet")


__all__ = ["DIGEST", "MANIFEST", "TIME_CONVENTION", "OutputExistsError", "Part", "atomic_directory", "check_output",
           "frame_digest", "make_table_dirs", "open_dataset", "read_config", "read_manifest", "read_parts",
           "read_table", "shard_count", "table_files", "write_manifest", "write_parquet", "write_part"]
