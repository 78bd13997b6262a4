"""A world on disk: a Parquet dataset per table, read whole, by shard, lazily, or in the layout of old."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest

import simulator
from conftest import assert_frames_equal
from simulator.generation import write_world
from simulator.storage import DIGEST, MANIFEST, frame_digest, open_dataset, read_manifest, read_table, shard_count
from simulator.world import GLOBAL_TABLES, PER_USER_TABLES, SHARD_SIZE, TABLES, read_shard, read_world

CONFIG = simulator.preset("small").with_overrides(users=2 * SHARD_SIZE + 100)  # three shards


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    world = simulator.generate(CONFIG, seed=2)
    return world, write_world(tmp_path_factory.mktemp("storage") / "world", CONFIG, seed=2)


def test_a_shard_is_read_alone(saved):
    world, path = saved
    for shard in range(3):
        part = read_world(path, shard=shard)
        users = part.users["user_id"]
        assert (users // SHARD_SIZE == shard).all() and len(users) > 0
        expected = world.transactions[world.transactions["user_id"] // SHARD_SIZE == shard]
        assert_frames_equal(part.transactions, expected.reset_index(drop=True), obj="transactions")
        for name in GLOBAL_TABLES:
            assert_frames_equal(getattr(part, name), getattr(world, name), obj=name)
    with pytest.raises(FileNotFoundError, match="no part part-000003.parquet of 'users'"):
        read_table(path, "users", shard=3)


def test_a_table_opens_lazily_as_a_dataset(saved):
    world, path = saved
    txns = open_dataset(path, "transactions")
    assert isinstance(txns, ds.Dataset)
    assert txns.count_rows() == read_manifest(path)["row_counts"]["transactions"] == len(world.transactions)
    fraud = txns.to_table(columns=["txn_id", "amount"], filter=ds.field("is_fraud")).to_pandas()
    expected = world.transactions.loc[world.transactions["is_fraud"], ["txn_id", "amount"]]
    assert_frames_equal(fraud, expected.reset_index(drop=True), obj="fraud")


def test_a_world_of_old_with_one_file_per_table_is_read(saved, tmp_path):
    world, path = saved
    old = tmp_path / "old"
    old.mkdir()
    for name in TABLES:
        getattr(world, name).to_parquet(old / f"{name}.parquet", index=False)
    manifest = read_manifest(path)
    (old / MANIFEST).write_text(json.dumps({k: manifest[k] for k in ("package", "version", "seed", "config")}))
    loaded = simulator.World.load(old)
    for name in TABLES:
        assert_frames_equal(getattr(loaded, name), getattr(world, name), obj=name)


def test_the_manifest_digest_changes_with_any_value(saved):
    world, path = saved
    tables = read_manifest(path)["tables"]
    assert {name: tables[name]["rows"] for name in TABLES} == {name: len(getattr(world, name)) for name in TABLES}
    assert len({tables[name][DIGEST] for name in TABLES}) == len(TABLES)
    txns = world.transactions.head(1000)
    digest = frame_digest(txns)
    assert frame_digest(txns.copy()) == digest
    changed = txns.assign(amount=np.where(np.arange(len(txns)) == 500, txns["amount"] + 0.01, txns["amount"]))
    assert frame_digest(changed) != digest
    assert frame_digest(txns.assign(mcc=txns["mcc"].cat.rename_categories(lambda c: f"x{c}"))) != digest
    log = world.serving_log.head(1000)
    row = int(np.flatnonzero(log["txn_count_last_1h"].notna().to_numpy())[0])
    masked = log.assign(txn_count_last_1h=log["txn_count_last_1h"].mask(pd.Series(np.arange(1000) == row)))
    assert frame_digest(masked) != frame_digest(log)  # a null where there was a value


def test_every_per_user_table_has_a_part_per_shard(saved):
    _, path = saved
    manifest = read_manifest(path)
    assert {name: manifest["tables"][name]["parts"] for name in PER_USER_TABLES} == dict.fromkeys(PER_USER_TABLES, 3)
    assert {name: manifest["tables"][name]["parts"] for name in GLOBAL_TABLES} == dict.fromkeys(GLOBAL_TABLES, 1)


def test_an_empty_part_keeps_the_tables_dtypes(tmp_path):
    config = CONFIG.with_overrides(users=2 * SHARD_SIZE + 1)  # the last shard has one user
    path = write_world(tmp_path / "world", config, seed=2)
    assert shard_count(path) == 3
    last, whole = read_shard(path, 2), read_world(path)
    assert len(last.users) == 1 and len(last.chargebacks) == 0  # one user, no dispute
    for name in PER_USER_TABLES:
        assert getattr(last, name).dtypes.to_dict() == getattr(whole, name).dtypes.to_dict(), name
    assert list(last.chargebacks["reason"].cat.categories) == ["fraud", "friendly"]


def test_a_table_without_rows_keeps_its_categories_and_digest(tmp_path):
    path = write_world(tmp_path / "world", CONFIG.with_overrides(users=10), seed=0)
    world = read_world(path)
    assert len(world.chargebacks) == 0  # ten users, no dispute
    assert list(world.chargebacks["reason"].cat.categories) == ["fraud", "friendly"]
    again = read_manifest(world.save(tmp_path / "again"))
    assert again["tables"]["chargebacks"] == read_manifest(path)["tables"]["chargebacks"]
