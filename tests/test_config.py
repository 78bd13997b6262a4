"""Config validation and loading: errors name the field, the value and what is allowed.

Allowed intervals are read from the config's own field declarations, so these
tests follow a change of range and still check both sides of the boundary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re

import pytest

import simulator
from simulator.config import (PRESETS, CohortConfig, ConfigError, HorizonConfig, PopulationConfig, WorldConfig,
                              from_mapping, load_config, preset, to_mapping, validate)


def declared(cls: type, name: str) -> dict:
    """The declared type and interval of a numeric config field."""
    return next(f.metadata for f in dataclasses.fields(cls) if f.name == name)


def replace_cohort(config: WorldConfig, index: int, **changes) -> WorldConfig:
    cohorts = list(config.population.cohorts)
    cohorts[index] = dataclasses.replace(cohorts[index], **changes)
    return dataclasses.replace(config, population=dataclasses.replace(config.population, cohorts=tuple(cohorts)))


def error_for(field: str, value, allowed: str) -> str:
    """A regex for the documented error: '<field>: <value!r> is not allowed; expected ...<allowed>...'."""
    return rf"^{re.escape(field)}: {re.escape(repr(value))} is not allowed; expected .*{allowed}"


@pytest.fixture
def base() -> WorldConfig:
    return preset("small")


# --- ranges ----------------------------------------------------------------------------------

def test_horizon_days_outside_its_range_names_field_value_and_interval(base):
    meta = declared(HorizonConfig, "days")
    lo, hi = meta["lo"], meta["hi"]
    interval = re.escape(f"[{lo}, {hi}]")
    for bad in (lo - 1, hi + 1):
        with pytest.raises(ConfigError, match=error_for("horizon.days", bad, interval)):
            base.with_overrides(days=bad)
    for ok in (lo, hi):  # a closed interval: its ends are allowed
        assert base.with_overrides(days=ok).horizon.days == ok


def test_a_negative_or_zero_cohort_share_is_refused(base):
    meta = declared(CohortConfig, "share")
    assert meta["lo"] == 0 and meta["lo_open"]
    for bad in (-0.1, 0.0):
        with pytest.raises(ConfigError, match=error_for("population.cohorts[1].share", bad, re.escape("(0, "))):
            validate(replace_cohort(base, 1, share=bad))


def test_cohort_shares_not_summing_to_one_are_refused(base):
    first = base.population.cohorts[0]
    bumped = replace_cohort(base, 0, share=first.share + 0.1)
    with pytest.raises(ConfigError, match=r"^population\.cohorts\.share: .* shares summing to 1 \(they sum to 1\.1\)"):
        validate(bumped)


def test_nan_is_refused(base):
    with pytest.raises(ConfigError, match=r"^population\.cohorts\[0\]\.share: nan is not allowed"):
        validate(replace_cohort(base, 0, share=math.nan))


def test_hourly_weights_of_the_wrong_length_are_refused(base):
    weights = base.activity.hourly_weights[:-1]
    bad = dataclasses.replace(base, activity=dataclasses.replace(base.activity, hourly_weights=weights))
    with pytest.raises(ConfigError, match=error_for("activity.hourly_weights", weights, "a list of 24 ")):
        validate(bad)
    with pytest.raises(ConfigError, match=r"^activity\.hourly_weights: .*a list of 24 "):
        load_config({"activity": {"hourly_weights": [1.0] * 25}})


def test_a_bool_is_not_an_int(base):
    meta = declared(PopulationConfig, "n_users")
    allowed = re.escape(f"an integer in [{meta['lo']}, ")
    with pytest.raises(ConfigError, match=error_for("population.n_users", True, allowed)):
        load_config({"population": {"n_users": True}})
    with pytest.raises(ConfigError, match=r"^horizon\.days: 30\.0 is not allowed; expected an integer"):
        load_config({"horizon": {"days": 30.0}})


def test_with_overrides_validates(base):
    meta = declared(PopulationConfig, "n_users")
    with pytest.raises(ConfigError, match=error_for("population.n_users", meta["lo"] - 1, "")):
        base.with_overrides(users=meta["lo"] - 1)


def test_generate_validates_the_config_and_the_seed(base):
    with pytest.raises(ConfigError, match=r"^population\.cohorts\[0\]\.share"):
        simulator.generate(replace_cohort(base, 0, share=-1.0), seed=0)
    for bad in (-1, 1.5, True, "3"):
        message = rf"^seed: {re.escape(repr(bad))} is not allowed; expected a non-negative integer"
        with pytest.raises(ValueError, match=message):
            simulator.generate(base, seed=bad)


# --- structure ---------------------------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    {},  # neither
    {"arrival_fraction": [0.0, 1.0], "tenure_at_start_days": [10.0, 20.0]},  # both
], ids=["neither", "both"])
def test_a_cohort_needs_exactly_one_of_tenure_and_arrival(extra):
    cohorts = [{"name": "only", "share": 1.0, **extra}]
    with pytest.raises(ConfigError, match=r"^population\.cohorts\[0\]: 'only' is not allowed; expected exactly one "
                                          r"of tenure_at_start_days .* or arrival_fraction"):
        load_config({"population": {"cohorts": cohorts}})


@pytest.mark.parametrize("data, where, hint", [
    ({"horizon": {"dayz": 30}}, "horizon.dayz", "days"),
    ({"horizn": {"days": 30}}, "horizn", "horizon"),
    ({"population": {"cohorts": [{"name": "a", "share": 1.0, "arrival_fraction": [0, 1], "chanels": {"x": 1}}]}},
     "population.cohorts[0].chanels", "channels"),
])
def test_an_unknown_key_is_refused_with_a_did_you_mean_hint(data, where, hint):
    message = rf"^{re.escape(where)}: unknown setting \(did you mean '{hint}'\?\); allowed: "
    with pytest.raises(ConfigError, match=message):
        load_config(data)


def test_an_unknown_key_in_a_toml_file_is_refused(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text("[fraud]\ntakeover_probabilty = 0.001\n")
    with pytest.raises(ConfigError, match=r"^fraud\.takeover_probabilty: unknown setting "
                                          r"\(did you mean 'takeover_probability'\?\)"):
        load_config(path)


@pytest.mark.parametrize("value", ["25:99", "noon", 1155])
def test_a_bad_run_time_is_refused(value):
    with pytest.raises(ConfigError, match=error_for("batch_job.run_time", value, "a time of day such as")):
        load_config({"batch_job": {"run_time": value}})


def test_missing_or_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^config file: .*does not exist"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[horizon\ndays = 3\n")
    with pytest.raises(ConfigError, match=r"^config file: .*is not valid TOML"):
        load_config(broken)


def test_an_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"^preset: 'huge' is not a preset; choose one of .*'small'"):
        preset("huge")


# --- loading and round trips ----------------------------------------------------------------------

def test_a_toml_file_overrides_nested_values_and_keeps_the_rest(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text('[horizon]\ndays = 30\n\n[fraud]\ntakeover_probability = 0.001\n\n'
                    '[batch_job]\nrun_time = "23:30"\n')
    small = preset("small")
    cfg = load_config(path, base="small")
    assert cfg.horizon.days == 30
    assert cfg.fraud.takeover_probability == 0.001
    assert cfg.batch_job.run_time == dt.time(23, 30)
    expected = dataclasses.replace(
        small, horizon=dataclasses.replace(small.horizon, days=30),
        fraud=dataclasses.replace(small.fraud, takeover_probability=0.001),
        batch_job=dataclasses.replace(small.batch_job, run_time=dt.time(23, 30)))
    assert cfg == expected


def test_a_cohort_list_in_toml_replaces_the_presets_cohorts(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text('[[population.cohorts]]\nname = "old"\nshare = 0.4\ntenure_at_start_days = [100, 200]\n\n'
                    '[[population.cohorts]]\nname = "new"\nshare = 0.6\narrival_fraction = [0.5, 1.0]\n'
                    'channels = { promo = 1.0 }\n')
    cfg = load_config(path)
    assert [c.name for c in cfg.population.cohorts] == ["old", "new"]
    assert cfg.population.cohorts[0].tenure_at_start_days == (100, 200)
    assert cfg.population.cohorts[1].channels == {"promo": 1.0}
    assert cfg.population.n_users == preset("default").population.n_users


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_validate(name):
    assert validate(preset(name)) is preset(name)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_to_mapping_from_mapping_round_trip_for_every_preset(name):
    cfg = preset(name)
    assert from_mapping(WorldConfig, to_mapping(cfg)) == cfg
    as_json = json.loads(json.dumps(to_mapping(cfg)))  # the manifest stores it as JSON
    assert validate(from_mapping(WorldConfig, as_json)) == cfg
    assert load_config(to_mapping(cfg), base=name) == cfg


def test_round_trip_keeps_a_run_time_with_seconds():
    """batch_job.run_time accepts seconds ('23:55:30' from TOML) and the batch schedule uses them,
    so to_mapping -- which writes the manifest and keys the world cache -- must keep them too."""
    cfg = load_config({"batch_job": {"run_time": "23:55:30"}}, base="small")
    assert cfg.batch_job.run_time == dt.time(23, 55, 30)
    assert from_mapping(WorldConfig, to_mapping(cfg)) == cfg
