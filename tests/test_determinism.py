"""Same seed, same world: in memory, streamed to Parquet, and shard by shard.

Also the SPEC 7 property that each mechanism has its own random stream: changing
one mechanism's config leaves every other mechanism's draws alone.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

import simulator
from conftest import assert_frames_equal
from simulator.generation import write_world
from simulator.storage import read_manifest
from simulator.world import SHARD_SIZE, TABLES, read_world

PER_USER_TABLES = ("users", "transactions", "chargebacks", "batch_features", "serving_log")


def assert_same_tables(a: simulator.World, b: simulator.World, names=TABLES) -> None:
    for name in names:
        assert_frames_equal(getattr(a, name), getattr(b, name), obj=name)


def small_with(**overrides) -> simulator.WorldConfig:
    """The small preset with some sub-configs replaced, e.g. ``fraud={"takeover_probability": 0.01}``."""
    cfg = simulator.preset("small")
    for section, changes in overrides.items():
        cfg = dataclasses.replace(cfg, **{section: dataclasses.replace(getattr(cfg, section), **changes)})
    return cfg


@pytest.fixture(scope="module")
def two_shards() -> simulator.World:
    return simulator.generate(simulator.preset("small").with_overrides(users=2 * SHARD_SIZE), seed=3)


@pytest.fixture(scope="module")
def three_shards() -> simulator.World:
    return simulator.generate(simulator.preset("small").with_overrides(users=3 * SHARD_SIZE), seed=3)


def test_the_same_seed_gives_identical_tables(small_world):
    again = simulator.generate(small_world.config, seed=small_world.seed)
    assert (again.config, again.seed) == (small_world.config, small_world.seed)
    assert_same_tables(small_world, again)


def test_another_seed_gives_other_tables(small_world):
    other = simulator.generate(small_world.config, seed=small_world.seed + 100)
    for name in ("users", "transactions", "outages"):
        assert not getattr(other, name).equals(getattr(small_world, name)), name
    assert not small_world.transactions["event_time"].head(100).reset_index(drop=True).equals(
        other.transactions["event_time"].head(100).reset_index(drop=True))


def test_streaming_to_parquet_gives_the_in_memory_world(tmp_path):
    config = simulator.preset("small").with_overrides(users=2 * SHARD_SIZE + 100)  # three shards, one partial
    path = write_world(tmp_path / "world", config, seed=9)
    streamed = read_world(path)
    in_memory = simulator.generate(config, seed=9)
    assert (streamed.config, streamed.seed) == (config, 9)
    assert_same_tables(streamed, in_memory)
    counts = read_manifest(path)["row_counts"]
    assert counts == {name: len(getattr(in_memory, name)) for name in TABLES}


def test_save_then_load_preserves_tables_dtypes_and_config(small_world, tmp_path):
    loaded = simulator.World.load(small_world.save(tmp_path / "saved"))
    assert loaded.config == small_world.config and loaded.seed == small_world.seed
    assert_same_tables(loaded, small_world)  # checks dtypes, categories included
    t, log = loaded.transactions, loaded.serving_log
    assert t["event_time"].dtype == "datetime64[ns]"
    assert loaded.users["signup_time"].dtype == "datetime64[ns]"
    assert loaded.batch_features["available_at"].dtype == "datetime64[ns]"
    assert loaded.chargebacks["reported_at"].dtype == "datetime64[ns]"
    assert isinstance(loaded.users["cohort"].dtype, pd.CategoricalDtype)
    assert isinstance(t["fraud_scenario"].dtype, pd.CategoricalDtype)
    assert list(log["txn_count_last_1h_status"].cat.categories) == ["ok", "no_history", "unavailable"]
    assert log["txn_count_last_1h"].dtype == "Int32" and log["txn_count_last_24h"].dtype == "Int32"
    assert log["txn_count_last_1h"].isna().any(), "nulls of the nullable counts must survive the round trip"


def test_a_shard_does_not_depend_on_how_many_shards_are_generated(two_shards, three_shards):
    """The first two shards of a three-shard world are the two-shard world, txn ids included."""
    assert len(three_shards.users) == 3 * SHARD_SIZE
    assert (three_shards.users["user_id"].iloc[:2 * SHARD_SIZE] < 2 * SHARD_SIZE).all()
    for name in set(TABLES) - set(PER_USER_TABLES):
        assert_frames_equal(getattr(three_shards, name), getattr(two_shards, name), obj=name)
    for name in PER_USER_TABLES:
        table = getattr(three_shards, name)
        users = table["user_id"] if "user_id" in table else three_shards.transactions.set_index("txn_id").loc[
            table["txn_id"], "user_id"].to_numpy()
        first_two = table[pd.Series(users, index=table.index) < 2 * SHARD_SIZE]
        assert len(first_two) < len(table), f"{name}: the third shard added no rows"
        assert_frames_equal(first_two, getattr(two_shards, name), obj=name)


def test_changing_outages_leaves_every_other_mechanism_alone(small_world):
    o = small_world.config.outages
    changed = simulator.generate(small_with(outages={"probability_per_peak": 1 - o.probability_per_peak / 2}),
                                 seed=small_world.seed)
    assert not changed.outages.equals(small_world.outages)
    assert_same_tables(changed, small_world, ("users", "merchants", "transactions", "chargebacks", "batch_features"))


def test_changing_takeovers_leaves_the_users_own_purchases_alone(small_world):
    f = small_world.config.fraud
    changed = simulator.generate(small_with(fraud={"takeover_probability": min(0.1, 4 * f.takeover_probability)}),
                                 seed=small_world.seed)
    assert_same_tables(changed, small_world, ("users", "merchants", "outages"))

    def own(world):
        t = world.transactions
        return t[t["fraud_scenario"] != "account_takeover"].drop(columns="txn_id").reset_index(drop=True)

    assert (changed.transactions["fraud_scenario"] == "account_takeover").sum() > (
        small_world.transactions["fraud_scenario"] == "account_takeover").sum()
    assert_frames_equal(own(changed), own(small_world), obj="own purchases")

    def own_reports(world):  # chargebacks of first-party fraud and friendly disputes, by purchase
        t = world.transactions
        own_ids = t.loc[t["fraud_scenario"] != "account_takeover", ["txn_id", "event_time"]]
        cb = world.chargebacks.merge(own_ids, on="txn_id")
        return cb.drop(columns="txn_id").sort_values(["event_time", "user_id"], ignore_index=True)

    assert len(own_reports(small_world)) > 0
    assert_frames_equal(own_reports(changed), own_reports(small_world), obj="own purchases' chargebacks")
