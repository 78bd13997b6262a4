"""The same world on every engine: threads, a process pool, Dask clusters; and what a failing task does.

A world's shards are fixed by its config; tasks may cover one or several, run
anywhere and be submitted in any order, and the tables (compared as data, not
Parquet bytes) and the manifest (but for how the copy was made, ``run``) are
the same.
"""

from __future__ import annotations

import importlib.util
import logging
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

import simulator
import simulator.generation
from conftest import assert_frames_equal
from simulator import engines
from simulator.cli import main
from simulator.engines import EngineError, ExecutorEngine, open_engine
from simulator.generation import ShardError, write_world
from simulator.storage import DIGEST, read_manifest, table_files
from simulator.world import SHARD_SIZE, TABLES, read_world

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="needs dask and distributed: pip install 'fraudworld[scale]'")

SEED = 5
CONFIG = simulator.preset("small").with_overrides(users=3 * SHARD_SIZE + 100)  # four shards, one partial


def assert_same_world(path: Path, reference: Path) -> None:
    got, want = read_world(path), read_world(reference)
    for name in TABLES:
        assert_frames_equal(getattr(got, name), getattr(want, name), obj=name)
    manifest, expected = read_manifest(path), read_manifest(reference)
    assert manifest.pop("run")["engine"] and expected.pop("run")
    assert manifest == expected


def leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*")
                  if ".partial-" in p.name or ".old-" in p.name or p.name.endswith(".tmp"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The world written by threads in this process, the default engine."""
    return write_world(tmp_path_factory.mktemp("local") / "world", CONFIG, seed=SEED)


@pytest.fixture(scope="module")
def two_workers():
    with open_engine("dask", workers=2) as engine:
        yield engine


def test_the_reference_has_a_part_per_shard_and_digests(reference):
    manifest = read_manifest(reference)
    assert manifest["shards"] == 4 and manifest["shard_size"] == SHARD_SIZE
    for name in ("users", "transactions", "chargebacks", "batch_features", "serving_log"):
        assert [f.name for f in table_files(reference, name)] == [f"part-{s:06d}.parquet" for s in range(4)]
        assert len(manifest["tables"][name][DIGEST]) == 32  # 128 bits, in hex
    assert set(manifest["libraries"]) == {"numpy", "pandas", "pyarrow"}


@needs_dask
@pytest.mark.parametrize("order", ["forward", "reverse"])
def test_a_dask_cluster_of_two_workers_writes_the_same_world(two_workers, reference, tmp_path, order):
    path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=two_workers, order=order)
    assert read_manifest(path)["run"] == {"engine": "dask", "slots": 2, "workers": 2, "shards_per_task": 1,
                                          "order": order, "seconds": read_manifest(path)["run"]["seconds"]}
    assert_same_world(path, reference)


@needs_dask
def test_one_dask_worker_with_several_shards_per_task_writes_the_same_world(reference, tmp_path):
    with open_engine("dask", workers=1) as engine:
        path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=engine, shards_per_task=3)
    assert_same_world(path, reference)


def test_a_process_pool_writes_the_same_world(reference, tmp_path):
    with ProcessPoolExecutor(2) as pool:
        path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=pool, order="reverse")
    assert_same_world(path, reference)


def test_the_world_in_memory_saved_is_the_world_generated_to_disk(reference, tmp_path):
    path = simulator.generate(CONFIG, seed=SEED).save(tmp_path / "saved")
    manifest, expected = read_manifest(path), read_manifest(reference)
    expected.pop("run")
    assert manifest == expected  # the same digests: the same data in the same parts


@pytest.fixture
def in_process_cluster():
    """A Dask cluster of two worker threads in this process, so a test can make a task fail."""
    import distributed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        from simulator.engines import DaskEngine
        yield DaskEngine(client)


def failing(monkeypatch, shard: int, times: int) -> dict:
    """Make generating ``shard`` raise its first ``times`` times."""
    calls = {"n": 0}
    real = simulator.generation.shard_tables

    def shard_tables(config, seed, s, *args):
        if s == shard:
            calls["n"] += 1
            if calls["n"] <= times:
                raise OSError(f"worker lost its disk ({calls['n']})")
        return real(config, seed, s, *args)

    monkeypatch.setattr(simulator.generation, "shard_tables", shard_tables)
    return calls


@needs_dask
def test_a_task_that_fails_once_is_run_again_and_the_world_is_the_same(in_process_cluster, reference, tmp_path,
                                                                         monkeypatch):
    calls = failing(monkeypatch, shard=2, times=1)
    path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=in_process_cluster)
    assert calls["n"] == 2
    assert_same_world(path, reference)
    assert leftovers(tmp_path) == []


@needs_dask
def test_a_task_that_always_fails_names_its_shard_and_leaves_nothing(in_process_cluster, tmp_path, monkeypatch):
    calls = failing(monkeypatch, shard=2, times=10**6)
    out = tmp_path / "world"
    with pytest.raises(ShardError, match=r"^shard 2 \(users 4,096-6,143\) failed 2 time\(s\); last error: "
                                         r"OSError: worker lost its disk \(2\)$"):
        write_world(out, CONFIG, seed=SEED, engine=in_process_cluster)
    assert calls["n"] == 2
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_a_failure_in_the_write_step_is_retried_too(reference, tmp_path, monkeypatch):
    calls = {"n": 0}
    real = simulator.generation.write_part

    def write_part(directory, name, shard, df):
        if (shard, name) == (1, "serving_log"):
            calls["n"] += 1
            if calls["n"] == 1:
                raise OSError("no space left on device")
        return real(directory, name, shard, df)

    monkeypatch.setattr(simulator.generation, "write_part", write_part)
    with open_engine("local") as engine:
        assert isinstance(engine, ExecutorEngine)
        path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=engine)
    assert calls["n"] == 2
    assert_same_world(path, reference)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"engine": "spark"}, "engine: 'spark' is not one of local, dask"),
    ({"workers": 0}, "workers: 0 must be a whole number of at least 1"),
    ({"engine": "local", "scheduler": "tcp://127.0.0.1:8786"}, "scheduler: only the dask engine"),
    ({"engine": "dask", "workers": 2, "scheduler": "tcp://127.0.0.1:8786"}, "give --workers or --scheduler"),
])
def test_an_engine_that_cannot_be_is_refused_by_name(kwargs, message):
    with pytest.raises(EngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        with open_engine(**kwargs):
            pass


@needs_dask
def test_the_command_generates_on_a_dask_cluster(reference, tmp_path, capsys):
    out = tmp_path / "world"
    code = main(["generate", "--out", str(out), "--preset", "small", "--users", str(CONFIG.population.n_users),
                 "--seed", str(SEED), "--engine", "dask", "--workers", "2", "--shards-per-task", "2"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "generating" in captured.err and "fraud rate" in captured.out
    assert read_manifest(out)["run"]["workers"] == 2
    assert_same_world(out, reference)


@pytest.fixture
def running_cluster():
    """A cluster started apart from the command, as on other machines: the command reaches its
    scheduler over TCP (here on 127.0.0.1, its worker a thread of this process)."""
    import distributed
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        yield cluster


@needs_dask
def test_a_running_cluster_reached_by_its_scheduler_address_writes_the_same_world(running_cluster, reference,
                                                                                 tmp_path):
    address = running_cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    with open_engine("dask", scheduler=address) as engine:
        path = write_world(tmp_path / "world", CONFIG, seed=SEED, engine=engine)
    run = read_manifest(path)["run"]
    assert (run["engine"], run["workers"], run["slots"]) == ("dask", 1, 2)
    assert_same_world(path, reference)


@needs_dask
def test_a_running_cluster_without_workers_is_refused_by_name(tmp_path, capsys, monkeypatch):
    import distributed
    monkeypatch.setattr(engines, "WORKERS_TIMEOUT", 1)
    with distributed.LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster:
        out = tmp_path / "world"
        code = main(["generate", "--out", str(out), "--preset", "small", "--engine", "dask",
                     "--scheduler", cluster.scheduler_address])
    assert code == 2
    assert f"scheduler: the cluster at {cluster.scheduler_address!r} has no workers" in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


class FakeClient:
    """What check_cluster asks of a cluster: a worker, and each worker's answer to ``run(fn)``."""

    def __init__(self, answers: dict | Exception):
        self.answers = answers

    def wait_for_workers(self, n, timeout):
        pass

    def run(self, fn):
        if isinstance(self.answers, Exception):
            raise self.answers
        return self.answers


def test_a_cluster_whose_workers_run_other_code_is_refused_naming_them():
    here = engines.identity()
    engines.check_cluster(FakeClient({"tcp://10.0.0.2:4000": dict(here)}))  # the same code: accepted
    with pytest.raises(EngineError, match=r"workers of the cluster run other code than this process.*"
                                          r"tcp://10\.0\.0\.3:4000: pandas 2\.2\.3 \(here "):
        engines.check_cluster(FakeClient({"tcp://10.0.0.2:4000": dict(here),
                                          "tcp://10.0.0.3:4000": {**here, "pandas": "2.2.3"}}))
    with pytest.raises(EngineError, match=r"the workers could not say what they run \(ModuleNotFoundError: "
                                          r"No module named 'simulator'\); install the same fraudworld"):
        engines.check_cluster(FakeClient(ModuleNotFoundError("No module named 'simulator'")))


def test_workers_running_other_code_are_named_with_what_differs():
    here = {"numpy": "2.3.0", "pandas": "3.0.1", "pyarrow": "22.0.0", "generator": "ab12"}
    workers = {"tcp://10.0.0.2:4000": dict(here),
               "tcp://10.0.0.3:4000": {**here, "pandas": "2.2.3", "generator": "ff00"},
               "tcp://10.0.0.1:4000": {k: v for k, v in here.items() if k != "pyarrow"}}
    assert engines.mismatches(here, workers) == [
        "tcp://10.0.0.1:4000: pyarrow None (here 22.0.0)",
        "tcp://10.0.0.3:4000: pandas 2.2.3 (here 3.0.1)",
        "tcp://10.0.0.3:4000: generator ff00 (here ab12)",
    ]
    assert engines.mismatches(here, {"tcp://10.0.0.2:4000": dict(here)}) == []


def test_this_process_identity_names_the_manifest_libraries_and_the_generator():
    identity = engines.identity()
    assert set(identity) == {"numpy", "pandas", "pyarrow", "generator"}
    assert identity["pandas"] == pd.__version__ and len(identity["generator"]) == 64


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "argument --workers: workers: '0' must be a whole number of at least 1"),
    (["--engine", "spark"], "argument --engine: invalid choice: 'spark'"),
    (["--scheduler", "tcp://127.0.0.1:9"], "scheduler: only the dask engine connects to a scheduler"),
    pytest.param(["--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"],
                 "scheduler: no Dask scheduler answered at 'tcp://127.0.0.1:9' within 1 s", marks=needs_dask),
])
def test_the_command_refuses_an_engine_that_cannot_be(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(engines, "CONNECT_TIMEOUT", 1)
    out = tmp_path / "world"
    code = main(["generate", "--out", str(out), "--preset", "small", *argv])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("kwargs, error, message", [
    ({"retries": None}, ValueError, "retries: None must be a whole number of at least 0"),
    ({"shards_per_task": 0}, ValueError, "shards_per_task: 0 must be a whole number of at least 1"),
    ({"order": "random"}, ValueError, "order: 'random' is not one of forward, reverse"),
    ({"engine": "dask"}, TypeError, "engine: 'dask' is not an Engine"),
])
def test_write_world_refuses_bad_arguments_by_name_and_writes_nothing(tmp_path, kwargs, error, message):
    out = tmp_path / "world"
    with pytest.raises(error, match=message.replace("(", r"\(")):
        write_world(out, CONFIG, seed=SEED, **kwargs)
    assert not out.exists() and leftovers(tmp_path) == []
