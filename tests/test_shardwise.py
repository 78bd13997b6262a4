"""Model tables built shard by shard are the in-memory builder's, on any executor.

Each task reads its shard of a saved world from disk (its parts of the per-user tables and the
global tables), as a shard-wise build of a world larger than memory does.

* On the default world (15 shards), with two threads: the lessons' training tables (correct and
  naive) and the production table on the evaluation sample, to the bit -- values, dtypes, order,
  index, features, switches.
* On a small world of three shards, the last of one user without a purchase in the window, on a
  Dask cluster of two in-process workers (they start in a fraction of a second, separate processes
  in about five; tasks are serialised either way): the same, that shard's part without rows.
* A task that fails names its shard, and a table without rows fails as in memory; either leaves
  nothing at the output.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pandas as pd
import pytest

import simulator
from simulator.cache import load_world
from simulator.experiment import Timeline
from simulator.generation import ShardError
from simulator.paths import world_dir
from simulator.pipelines import CORRECT, NAIVE, build_training_set, production_table
from simulator.sample import EVALUATION
from simulator.shardwise import build_shardwise, read_model_table
from simulator.world import SHARD_SIZE, World, n_shards, read_shard

from conftest import assert_frames_equal


saved_shard = read_shard  # a task's load_shard: shard ``shard`` of the world saved at ``path``


def in_memory(world: World, kind: str, **arguments):
    return (build_training_set if kind == "training" else production_table)(world, **arguments)


def assert_same_table(got, expected) -> None:
    assert got.features == expected.features
    assert got.switches == expected.switches
    assert_frames_equal(got.frame, expected.frame, check_exact=True)


@pytest.fixture(scope="module")
def world() -> World:
    return load_world("default", 0)


def lessons_tables(world: World) -> dict[str, dict]:
    """The lessons' tables on ``world``: the builder's arguments for each."""
    t = Timeline.for_world(world)
    training = {"kind": "training", "start": t.train_start, "end": t.extracted_at}
    return {"correct": {**training, "switches": CORRECT}, "naive": {**training, "switches": NAIVE},
            "production": {"kind": "production", "start": t.extracted_at, "end": t.production_end,
                           "switches": CORRECT, "sample": EVALUATION}}


@pytest.mark.parametrize("name", ["correct", "naive", "production"])
def test_the_default_world_s_tables_built_shard_by_shard_are_the_in_memory_ones(world, tmp_path, name):
    arguments = lessons_tables(world)[name]
    with ThreadPoolExecutor(2) as pool:
        out = build_shardwise(partial(saved_shard, world_dir("default", 0)), range(n_shards(world.config)), pool,
                              tmp_path / name, **arguments)
    assert_same_table(read_model_table(out), in_memory(world, **arguments))


@pytest.fixture(scope="module")
def three_shards(tmp_path_factory) -> tuple[World, object]:
    """A small world of three shards, the last of one user, and where it is saved."""
    world = simulator.generate(simulator.preset("small").with_overrides(users=2 * SHARD_SIZE + 1), seed=0)
    return world, world.save(tmp_path_factory.mktemp("three_shards") / "world")


def test_a_dask_cluster_builds_the_same_tables_with_an_empty_part(three_shards, tmp_path):
    distributed = pytest.importorskip("distributed")
    world, path = three_shards
    start = pd.Timestamp(world.config.horizon.start) + pd.Timedelta(days=10)
    end = start + pd.Timedelta(days=20)
    lone = world.transactions.loc[world.transactions["user_id"] == 2 * SHARD_SIZE, "event_time"]
    assert not lone.between(start, end).any(), "the last shard's one user must have no purchase in the window"
    tables = {"training": {"kind": "training", "start": start, "end": end, "extracted_at": end + pd.Timedelta(days=30),
                           "switches": CORRECT},
              "production": {"kind": "production", "start": start, "end": end, "switches": CORRECT.but(missing="zero"),
                             "sample": EVALUATION}}
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        for name, arguments in tables.items():
            out = build_shardwise(partial(saved_shard, path), range(3), client.get_executor(), tmp_path / name,
                                  **arguments)
            assert pd.read_parquet(out / "part-000002.parquet").empty
            assert_same_table(read_model_table(out), in_memory(world, **arguments))


def failing_on_shard_one(path, shard: int) -> World:
    if shard == 1:
        raise OSError("part-000001.parquet: unreadable")
    return saved_shard(path, shard)


def test_a_failing_task_names_its_shard_and_leaves_nothing(three_shards, tmp_path):
    world, path = three_shards
    start = pd.Timestamp(world.config.horizon.start)
    with ThreadPoolExecutor(2) as pool, pytest.raises(ShardError, match="^shard 1 failed: OSError: part-000001") as failed:
        build_shardwise(partial(failing_on_shard_one, path), range(3), pool, tmp_path / "table", start=start,
                        end=start + pd.Timedelta(days=20), switches=CORRECT.but(label_maturity_days=None))
    assert isinstance(failed.value.__cause__, OSError)
    assert list(tmp_path.iterdir()) == []


def test_a_cutoff_that_leaves_no_purchase_in_any_shard_is_the_in_memory_builder_s_error(three_shards, tmp_path):
    world, path = three_shards
    start = pd.Timestamp(world.config.horizon.start)
    arguments = {"kind": "training", "start": start, "end": start + pd.Timedelta(days=20), "switches": CORRECT}
    with pytest.raises(ValueError, match="leaves no purchase") as expected:
        in_memory(world, **arguments)
    with ThreadPoolExecutor(2) as pool, pytest.raises(ValueError, match=re.escape(str(expected.value))):
        build_shardwise(partial(saved_shard, path), range(3), pool, tmp_path / "table", **arguments)
    assert list(tmp_path.iterdir()) == []
