"""The ``fraudworld`` command, end to end on the 'small' preset, and its summary."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import pyarrow.parquet as pq
import pytest

import simulator
import simulator.generation
from simulator.cli import main
from simulator.generation import write_world
from simulator.storage import MANIFEST, part_name, read_manifest, read_table, table_files
from simulator.summary import TABLE_DESCRIPTIONS, Tally, format_summary, summarize, summarize_saved
from simulator.world import SHARD_SIZE, TABLES, read_world

SEED = 7
SMALL = ("--preset", "small")
FILES = set(TABLES) | {MANIFEST}  # a folder of parts per table


class Run(NamedTuple):
    code: int
    out: str
    err: str


def run(*argv) -> Run:
    """``main`` in-process, with its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue())


def leftovers(directory: Path) -> list[str]:
    """Hidden temporary directories the atomic writer may have left beside its target."""
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name or ".old-" in p.name)


def files_of(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, Run]:
    out = tmp_path_factory.mktemp("cli") / "world"
    return out, run("generate", "--out", out, *SMALL, "--seed", SEED)


def test_generate_writes_every_table_and_prints_the_summary(generated):
    out, result = generated
    assert result.code == 0, result.err
    assert {p.name for p in out.iterdir()} == FILES
    manifest = read_manifest(out)
    assert manifest["seed"] == SEED
    assert manifest["config"]["horizon"]["days"] == simulator.preset("small").horizon.days
    for name in TABLES:
        rows = sum(pq.ParquetFile(f).metadata.num_rows for f in table_files(out, name))
        assert manifest["row_counts"][name] == rows
        assert re.search(rf"^{name}\s+{rows:,}\s", result.out, re.M), f"{name} {rows:,} not in summary"
    txns = read_table(out, "transactions", ["is_fraud"])
    assert f"fraud rate {100 * txns['is_fraud'].mean():.2f}%" in result.out
    for phrase in ("p10", "p50", "p90", "p99", "outages", "first 7 days", "last 7 days", "mature"):
        assert phrase in result.out
    assert "generating" in result.err  # the progress bar


def test_same_seed_same_world_and_another_seed_another(generated, tmp_path):
    out, _ = generated
    assert run("generate", "--out", tmp_path / "again", *SMALL, "--seed", SEED).code == 0
    assert run("generate", "--out", tmp_path / "other", *SMALL, "--seed", SEED + 1).code == 0
    assert read_manifest(tmp_path / "again")["row_counts"] == read_manifest(out)["row_counts"]
    first = read_table(out, "transactions")
    pd.testing.assert_frame_equal(read_table(tmp_path / "again", "transactions"), first)
    other = read_table(tmp_path / "other", "transactions")
    assert len(other) != len(first) or not other.equals(first)


def test_toml_overlays_the_preset_and_flags_overlay_the_toml(tmp_path):
    config = tmp_path / "world.toml"
    config.write_text("[horizon]\ndays = 30\n\n[population]\nn_users = 400\n")
    result = run("generate", "--out", tmp_path / "w", *SMALL, "--config", config, "--users", 300, "--seed", 1)
    assert result.code == 0, result.err
    world = read_world(tmp_path / "w")
    assert world.config.horizon.days == 30  # from the TOML
    assert world.config.population.n_users == len(world.users) == 300  # the flag wins
    small = simulator.preset("small")
    assert world.config.population.cohorts == small.population.cohorts  # the rest is the preset's
    end = pd.Timestamp(world.config.horizon.start) + pd.Timedelta(days=30)
    assert world.transactions["event_time"].max() < end


def test_refuses_a_non_empty_directory_unless_forced(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    refused = run("generate", "--out", out, *SMALL)
    assert refused.code == 2
    assert re.search(r"^fraudworld: error: out: .*busy.* is not empty.*--force", refused.err, re.M)
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"

    forced = run("generate", "--out", out, *SMALL, "--force")
    assert forced.code == 0, forced.err
    assert {p.name for p in out.iterdir()} == FILES
    assert leftovers(tmp_path) == []


TOML_TYPO = "[horizon]\ndayz = 30\n"
TOML_OUT_OF_RANGE = "[population]\nn_users = 5\n"
TOML_BROKEN = "[horizon\ndays = 30\n"


@pytest.mark.parametrize("args, toml, message", [
    (["--seed", "-1"], None, r"argument --seed: seed: -1 is not allowed; expected a non-negative integer"),
    (["--seed", "one"], None, r"argument --seed: seed: 'one' is not allowed"),
    (["--days", "3"], None, r"argument --days: horizon\.days: 3 is not allowed; expected a value in \[14, 3650\]"),
    (["--users", "5"], None, r"argument --users: population\.n_users: 5 is not allowed"),
    (["--users", "1e3"], None, r"argument --users: population\.n_users: '1e3' is not allowed; expected an integer"),
    (["--preset", "huge"], None, r"argument --preset: invalid choice: 'huge'"),
    (["--config"], TOML_TYPO, r"^fraudworld: error: horizon\.dayz: unknown setting \(did you mean 'days'\?\)"),
    (["--config"], TOML_OUT_OF_RANGE, r"^fraudworld: error: population\.n_users: 5 is not allowed"),
    (["--config"], TOML_BROKEN, r"^fraudworld: error: config file: .* is not valid TOML"),
    (["--config", "no-such.toml"], None, r"^fraudworld: error: config file: 'no-such\.toml' does not exist"),
])
def test_bad_arguments_and_configs_exit_2_naming_the_field(tmp_path, args, toml, message):
    if toml is not None:
        (tmp_path / "bad.toml").write_text(toml)
        args = [*args, tmp_path / "bad.toml"]
    out = tmp_path / "world"
    result = run("generate", "--out", out, *args)
    assert result.code == 2
    assert re.search(message, result.err, re.M), result.err
    assert result.out == ""
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    ([], "the following arguments are required: COMMAND"),
    (["generate", "--preset", "small"], "the following arguments are required: --out"),
    (["simulate"], "invalid choice: 'simulate'"),
])
def test_missing_or_unknown_command_is_a_usage_error(argv, message):
    result = run(*argv)
    assert result.code == 2
    assert message in result.err and "usage: fraudworld" in result.err


def test_help_says_what_each_table_is_and_how_time_works():
    top = run("--help")
    assert top.code == 0
    for name, what in TABLE_DESCRIPTIONS.items():
        assert re.search(rf"^\s+{name}\s+{re.escape(what)}$", top.out, re.M), name
    assert "event_time" in top.out and "reported_at" in top.out and "time zone" in top.out
    gen = run("generate", "--help")
    assert gen.code == 0
    words = " ".join(gen.out.split())  # argparse wraps to the terminal's width
    for flag in ("--out", "--config", "--preset", "--seed", "--days", "--users", "--force",
                 "horizon.days", "population.n_users", "small: 60 days, 1,500 users"):
        assert flag in words


def test_table_descriptions_cover_exactly_the_tables():
    assert tuple(TABLE_DESCRIPTIONS) == TABLES


def failing_after_first_shard(monkeypatch, out: Path, error: BaseException) -> dict:
    """Make the second shard raise ``error`` on every attempt, once the first shard's parts are written
    (shards run at once: it waits for them), noting what the temporary directory held by then."""
    seen = {"partial": [], "attempts": 0}
    real = simulator.generation.shard_tables

    def shard_tables(config, seed, shard, *args):
        if shard == 1:
            seen["attempts"] += 1
            first = part_name(0)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not any(
                    (d / "transactions" / first).exists() for d in out.parent.glob(f".{out.name}.partial-*")):
                time.sleep(0.01)
            seen["partial"] = [sorted(str(p.relative_to(d)) for p in d.rglob("*.parquet"))
                               for d in out.parent.glob(f".{out.name}.partial-*")]
            raise error
        return real(config, seed, shard, *args)

    monkeypatch.setattr(simulator.generation, "shard_tables", shard_tables)
    return seen


TWO_SHARDS = ("--users", SHARD_SIZE + 100, "--workers", 2)  # two threads: shard 1 waits while shard 0 is written
FIRST_PART = f"transactions/{part_name(0)}"


def test_a_failure_mid_generation_names_the_shard_and_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "world"
    seen = failing_after_first_shard(monkeypatch, out, RuntimeError("disk on fire"))
    result = run("generate", "--out", out, *SMALL, *TWO_SHARDS)
    assert result.code == 1
    assert re.search(r"^fraudworld: error: shard 1 \(users 2,048-2,147\) failed 2 time\(s\); last error: "
                     r"RuntimeError: disk on fire; nothing was written", result.err, re.M), result.err
    assert "Traceback" in result.err and "disk on fire" in result.err  # a bug is not swallowed
    assert seen["attempts"] == 2  # run again once, then given up
    assert seen["partial"] and FIRST_PART in seen["partial"][0]  # the first shard was written
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_an_interrupt_exits_130_and_leaves_nothing(tmp_path, monkeypatch):
    out = tmp_path / "world"
    seen = failing_after_first_shard(monkeypatch, out, KeyboardInterrupt())
    result = run("generate", "--out", out, *SMALL, *TWO_SHARDS)
    assert result.code == 130
    assert "interrupted; nothing was written" in result.err
    assert seen["attempts"] == 1  # an interrupt is never retried
    assert seen["partial"] and FIRST_PART in seen["partial"][0]
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_an_interrupted_forced_rewrite_keeps_the_old_world(generated, tmp_path, monkeypatch):
    out = tmp_path / "world"
    shutil.copytree(generated[0], out)
    before = files_of(out)
    failing_after_first_shard(monkeypatch, out, KeyboardInterrupt())
    assert run("generate", "--out", out, *SMALL, *TWO_SHARDS, "--force").code == 130
    assert files_of(out) == before
    assert leftovers(tmp_path) == []


def test_summary_command_prints_the_summary_of_a_written_world(generated):
    out, result = generated
    text = run("summary", out)
    assert text.code == 0, text.err
    assert text.out.strip() in result.out
    numbers = run("summary", out, "--json")
    assert numbers.code == 0
    summary = json.loads(numbers.out)
    assert summary["rows"] == read_manifest(out)["row_counts"]
    assert summary["seed"] == SEED


def test_summary_of_a_directory_that_is_not_a_world(tmp_path):
    result = run("summary", tmp_path)
    assert result.code == 2
    assert re.search(r"^fraudworld: error: world: .* has no manifest\.json", result.err, re.M)


def test_summarize_agrees_with_a_direct_computation(generated):
    world = read_world(generated[0])
    s = summarize(world)
    txns = world.transactions.merge(world.users[["user_id", "cohort"]], on="user_id", validate="many_to_one")
    assert s["rows"] == {name: len(df) for name, df in world.tables().items()}
    assert s["fraud_rate"] == pytest.approx(txns["is_fraud"].mean())
    for cohort, rate in txns.groupby("cohort", observed=True)["is_fraud"].mean().items():
        assert s["fraud_rate_by_cohort"][cohort] == pytest.approx(rate)
    # A cohort's fraud rate differs by design: the mature cohort is the safest.
    assert s["fraud_rate_by_cohort"]["mature"] == min(s["fraud_rate_by_cohort"].values())

    cb = world.chargebacks.merge(world.transactions[["txn_id", "event_time"]], on="txn_id", validate="one_to_one")
    hours = (cb["reported_at"] - cb["event_time"]).dt.total_seconds() / 3600
    assert hours.min() > 0
    for q, key in ((0.1, "p10"), (0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
        assert s["report_delay_hours"][key] == pytest.approx(hours.quantile(q))

    outages = world.outages
    assert s["outage_count"] == len(outages) > 0
    assert s["outage_hours"] == pytest.approx((outages["end_time"] - outages["start_time"]).dt.total_seconds().sum()
                                              / 3600)

    assert s["existing_cohorts"] == ["mature"]
    day = (txns["event_time"] - pd.Timestamp(world.config.horizon.start)).dt.days
    new = txns["cohort"] != "mature"
    assert s["new_cohort_share"]["first_7_days"] == pytest.approx(new[day < 7].mean())
    assert s["new_cohort_share"]["last_7_days"] == pytest.approx(new[day >= world.config.horizon.days - 7].mean())
    assert s["new_cohort_share"]["last_7_days"] > 5 * s["new_cohort_share"]["first_7_days"]  # the shift grows
    assert len(format_summary(s).splitlines()) <= 25  # one screen


THREE_SHARDS = ("--users", 2 * SHARD_SIZE + 100)


def test_generate_summarises_the_shards_as_written_never_reading_the_world_back(tmp_path, monkeypatch):
    # Reading the world back holds all of it at once: peak memory would grow with the world.
    def refuse(*args, **kwargs):
        raise AssertionError("generate read tables back from disk")

    monkeypatch.setattr(pd, "read_parquet", refuse)
    monkeypatch.setattr(pq, "read_table", refuse)
    out = tmp_path / "world"
    result = run("generate", "--out", out, *SMALL, *THREE_SHARDS, "--seed", SEED)
    monkeypatch.undo()
    assert result.code == 0, result.err
    assert result.out.endswith(format_summary(summarize(read_world(out))) + "\n")


def test_the_summary_tallied_shard_by_shard_is_the_summary_of_the_whole_world(tmp_path):
    config = simulator.preset("small").with_overrides(users=2 * SHARD_SIZE + 100)  # three shards, one partial
    tally = Tally(config, SEED)
    path = write_world(tmp_path / "world", config, seed=SEED, tally=tally)
    whole = summarize(read_world(path))
    assert tally.summary() == whole  # exactly: counts, rates and delay quantiles
    assert summarize_saved(path) == whole  # purchases read a part (a shard) at a time
    assert summarize_saved(simulator.World.load(path).save(tmp_path / "saved")) == whole
    assert whole["rows"] == read_manifest(path)["row_counts"]


def console_script() -> str:
    """The installed ``fraudworld`` script of the interpreter running the tests."""
    beside = Path(sys.executable).parent / ("fraudworld.exe" if os.name == "nt" else "fraudworld")
    found = str(beside) if beside.exists() else shutil.which("fraudworld")
    assert found, "the fraudworld console script is not installed; run `pip install -e .`"
    return found


def test_the_installed_console_script_works(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ok = subprocess.run([console_script(), "generate", "--out", tmp_path / "w", *SMALL, "--seed", "3"],
                        capture_output=True, text=True, env=env, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert "transactions" in ok.stdout and (tmp_path / "w" / MANIFEST).exists()
    bad = subprocess.run([console_script(), "generate", "--out", tmp_path / "x", "--seed", "-1"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode == 2 and "--seed" in bad.stderr
    module = subprocess.run([sys.executable, "-m", "simulator.cli", "--version"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert module.returncode == 0 and module.stdout.strip() == f"fraudworld {simulator.__version__}"
