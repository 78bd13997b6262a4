"""World configuration: frozen dataclasses, presets and TOML loading.

Every number that shapes the world lives here, with its unit. A config is
validated once, at the boundary (:func:`validate`, called by :func:`load_config`
and :func:`simulator.generate`): a bad value raises :class:`ConfigError` naming
the field, the value and what is allowed; an unknown key in a TOML file or a
mapping raises too, so a typo never silently falls back to a default.

Time units are explicit in every field name (``_days``, ``_minutes``,
``_hours``); fractions of the horizon are named ``_fraction``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A config value is out of range, of the wrong type, or unknown."""


def _spec(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
          hi_open: bool = False, kind: type | tuple = (int, float)) -> dict:
    """Field metadata: the allowed type and interval, checked by :func:`validate`."""
    return {"kind": kind, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}


def _num(default, lo=None, hi=None, **kw):
    return field(default=default, metadata=_spec(lo, hi, **kw))


@dataclass(frozen=True)
class HorizonConfig:
    """The simulated period: ``days`` whole days from midnight of ``start``."""

    start: dt.date = dt.date(2026, 1, 5)  # a Monday
    days: int = _num(180, 14, 3650, kind=int)


@dataclass(frozen=True)
class CohortConfig:
    """A group of users who arrived together and share a risk profile.

    A cohort either existed before the horizon (``tenure_at_start_days`` set:
    sign-up uniformly that many days before the start) or arrives during it
    (``arrival_fraction`` set: sign-up uniform over that part of the horizon).
    Cohorts share one activity and amount model, so their amount and velocity
    marginals match; they differ in who they are (region, channel), where they
    shop, and in new-account fraud risk at the same feature values.
    """

    name: str
    share: float = _num(0.25, 0, 1, lo_open=True)  # of all users; shares sum to 1
    region: str = "home"
    channels: Mapping[str, float] = field(default_factory=lambda: {"organic": 1.0})
    tenure_at_start_days: tuple[float, float] | None = None
    arrival_fraction: tuple[float, float] | None = None
    arrival_ramp: float = _num(1.0, 1, 10)  # 1: uniform arrivals; k: density rising as x**(k-1)
    # First-party (new-account) fraud: the fraudster warms the account up with an ordinary
    # purchase and busts out in quick succession -- a purchase made within ``warm_within_days``
    # of the account's previous one (so the velocity features are never 0 on it) is fraud with probability
    # baseline + new_account * exp(-tenure / decay), scaled steeply up with amount
    # (FraudConfig.new_account_amount_slope).
    new_account_fraud_rate: float = _num(0.0, 0, 1)
    new_account_fraud_decay_days: float = _num(30.0, 0, 3650, lo_open=True)
    baseline_fraud_rate: float = _num(0.0, 0, 1)
    warm_within_days: float = _num(1.0, 0, 3650, lo_open=True)
    new_mcc_share: float = _num(0.0, 0, 1)  # share of purchases at new-category merchants


def _default_cohorts() -> tuple[CohortConfig, ...]:
    return (
        CohortConfig("mature", share=0.5, channels={"organic": 0.6, "referral": 0.25, "partner": 0.15},
                     tenure_at_start_days=(120.0, 2000.0)),
        CohortConfig("growth", share=0.15, channels={"organic": 0.6, "referral": 0.3, "partner": 0.1},
                     arrival_fraction=(0.0, 1.0), new_account_fraud_rate=0.02,
                     new_account_fraud_decay_days=10.0, baseline_fraud_rate=0.00065),
        CohortConfig("expansion", share=0.25, region="expansion",
                     channels={"organic": 0.4, "partner": 0.4, "referral": 0.2},
                     arrival_fraction=(0.2, 1.0), arrival_ramp=3.0, new_account_fraud_rate=0.065,
                     new_account_fraud_decay_days=12.0, baseline_fraud_rate=0.0026, new_mcc_share=0.3),
        CohortConfig("promo", share=0.10, channels={"promo": 0.85, "organic": 0.15},
                     arrival_fraction=(0.7, 0.95), new_account_fraud_rate=0.12,
                     new_account_fraud_decay_days=8.0, baseline_fraud_rate=0.0013),
    )


@dataclass(frozen=True)
class PopulationConfig:
    """Users and their cohorts. ``n_users`` counts every user who exists by the end."""

    n_users: int = _num(30_000, 10, 100_000_000, kind=int)
    cohorts: tuple[CohortConfig, ...] = field(default_factory=_default_cohorts)


def _default_hourly() -> tuple[float, ...]:
    # Relative transaction intensity by local hour: quiet nights, a lunch and an evening peak.
    return (0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.35, 0.7, 1.0, 1.1, 1.2, 1.5,
            2.1, 2.0, 1.3, 1.1, 1.1, 1.3, 1.7, 2.1, 2.2, 1.8, 1.1, 0.5)


@dataclass(frozen=True)
class ActivityConfig:
    """When users transact: sessions as a Poisson process shaped by a weekly rhythm.

    Each user has a session rate drawn once (log-normal, the same for every
    cohort); a session holds ``1 + Poisson(extra_txns_per_session)`` purchases
    spaced by exponential gaps of mean ``session_gap_minutes``.
    """

    hourly_weights: tuple[float, ...] = field(default_factory=_default_hourly)
    weekday_weights: tuple[float, ...] = (0.95, 0.95, 1.0, 1.0, 1.1, 1.15, 0.85)  # Mon..Sun
    sessions_per_day_median: float = _num(0.35, 0, 50, lo_open=True)
    sessions_per_day_sigma: float = _num(0.9, 0, 3)
    extra_txns_per_session: float = _num(0.6, 0, 20)
    session_gap_minutes: float = _num(4.0, 0, 600, lo_open=True)


@dataclass(frozen=True)
class AmountConfig:
    """Purchase amounts: log-normal around a per-user typical amount (currency units)."""

    median: float = _num(35.0, 0, 1e6, lo_open=True)
    user_sigma: float = _num(0.7, 0, 3)  # spread of users' typical amounts (log scale)
    txn_sigma: float = _num(0.6, 0, 3)  # spread of one user's purchases (log scale)


@dataclass(frozen=True)
class MerchantConfig:
    """Merchants and their category codes (MCC).

    ``new_mccs`` are categories that appear with the expansion: their merchants
    are onboarded when the first cohort with ``new_mcc_share > 0`` arrives.
    """

    n_merchants: int = _num(2_000, 1, 10_000_000, kind=int)
    mccs: tuple[str, ...] = ("5411", "5812", "5814", "5541", "5912", "5311", "5999",
                             "4121", "5732", "5691", "7832", "5942")
    new_mccs: tuple[str, ...] = ("4829", "6051", "7995")
    new_mcc_merchant_share: float = _num(0.1, 0, 1, hi_open=True)
    popularity_exponent: float = _num(1.1, 0, 3)  # Zipf exponent of merchant popularity


@dataclass(frozen=True)
class DeviceConfig:
    """Devices: each user shops from a home device and now and then from a new one."""

    new_device_probability: float = _num(0.01, 0, 1)  # per legitimate purchase


@dataclass(frozen=True)
class FraudConfig:
    """Account takeover (ATO) bursts on established, recently active accounts.

    After a legitimate purchase of a user with tenure of at least
    ``takeover_min_tenure_days``, a takeover starts with probability
    ``takeover_probability``, an exponential delay (mean
    ``takeover_start_mean_hours``) later. The
    fraudster uses a new device and makes ``2 + Poisson(burst_extra_txns)``
    purchases, spaced by log-normal gaps (median ``burst_gap_minutes_median``),
    at amounts scaled up by ``exp(burst_log_amount_uplift)``.
    New-account fraud is per cohort (:class:`CohortConfig`); its risk rises with
    amount by ``exp(new_account_amount_slope * z)`` for the amount's z-score.
    """

    takeover_probability: float = _num(0.0004, 0, 0.1)
    takeover_min_tenure_days: float = _num(30.0, 0, 3650)
    takeover_start_mean_hours: float = _num(48.0, 0, 24 * 30, lo_open=True)
    burst_extra_txns: float = _num(2.5, 0, 50)
    burst_gap_minutes_median: float = _num(30.0, 0, 10_000, lo_open=True)
    burst_gap_sigma: float = _num(1.2, 0, 4)
    burst_log_amount_uplift: float = _num(0.7, -3, 3)
    new_account_amount_slope: float = _num(2.5, 0, 4)


@dataclass(frozen=True)
class ReportDelay:
    """One component of the chargeback delay mixture (log-normal, in hours)."""

    weight: float = _num(1.0, 0, 1)
    median_hours: float = _num(24.0, 0, 24 * 3650, lo_open=True)
    sigma: float = _num(0.5, 0, 4)


def _takeover_delays() -> tuple[ReportDelay, ...]:
    return (ReportDelay(0.65, 3.0, 0.7),          # the account holder notices within hours
            ReportDelay(0.3, 24.0 * 6, 0.6),      # or on the next statement, about a week
            ReportDelay(0.05, 24.0 * 60, 0.5))    # the long tail of disputes


def _new_account_delays() -> tuple[ReportDelay, ...]:
    # The real owner of a stolen identity or card rarely sees the purchase at once.
    return (ReportDelay(0.15, 6.0, 0.7),
            ReportDelay(0.65, 24.0 * 8, 0.6),
            ReportDelay(0.2, 24.0 * 60, 0.5))


@dataclass(frozen=True)
class ChargebackConfig:
    """Chargebacks: who reports fraud, and when (``reported_at > event_time``).

    Delays are mixtures of log-normal components, one mixture per mechanism.
    """

    report_probability: float = _num(0.9, 0, 1)  # per fraud incident (a takeover burst is one)
    takeover_delays: tuple[ReportDelay, ...] = field(default_factory=_takeover_delays)
    new_account_delays: tuple[ReportDelay, ...] = field(default_factory=_new_account_delays)
    friendly_fraud_rate: float = _num(0.00005, 0, 0.1)  # legitimate purchases disputed anyway
    friendly_delay: ReportDelay = ReportDelay(1.0, 24.0 * 12, 0.6)


@dataclass(frozen=True)
class BatchJobConfig:
    """The nightly feature job: it reads what happened and was reported by ``run_at``
    (every day at ``run_time``) and publishes at ``available_at = run_at + latency``."""

    run_time: dt.time = dt.time(23, 55)
    latency_minutes_median: float = _num(35.0, 0, 24 * 60, lo_open=True)
    latency_sigma: float = _num(0.5, 0, 3)


@dataclass(frozen=True)
class OutageConfig:
    """Degradation of the online feature service, concentrated at peak load.

    Each day, each peak window has an outage with ``probability_per_peak``,
    starting uniformly inside it; there are also off-peak outages at
    ``offpeak_per_day``. Durations are log-normal; inside an outage a request
    fails with the outage's ``failure_rate``, drawn from ``failure_rate_range``.
    """

    peak_windows_hours: tuple[tuple[float, float], ...] = ((11.5, 14.0), (18.5, 22.0))
    probability_per_peak: float = _num(0.75, 0, 1)
    offpeak_per_day: float = _num(0.05, 0, 24)
    duration_minutes_median: float = _num(110.0, 0, 24 * 60, lo_open=True)
    duration_sigma: float = _num(0.5, 0, 3)
    failure_rate_range: tuple[float, float] = (0.9, 1.0)


@dataclass(frozen=True)
class WorldConfig:
    """Everything that defines a world, except the seed."""

    horizon: HorizonConfig = HorizonConfig()
    population: PopulationConfig = PopulationConfig()
    activity: ActivityConfig = ActivityConfig()
    amounts: AmountConfig = AmountConfig()
    merchants: MerchantConfig = MerchantConfig()
    devices: DeviceConfig = DeviceConfig()
    fraud: FraudConfig = FraudConfig()
    chargebacks: ChargebackConfig = ChargebackConfig()
    batch_job: BatchJobConfig = BatchJobConfig()
    outages: OutageConfig = OutageConfig()

    def with_overrides(self, *, days: int | None = None, users: int | None = None) -> "WorldConfig":
        """A copy with the horizon length and/or user count replaced, validated."""
        cfg = self
        if days is not None:
            cfg = dataclasses.replace(cfg, horizon=dataclasses.replace(cfg.horizon, days=days))
        if users is not None:
            cfg = dataclasses.replace(cfg, population=dataclasses.replace(cfg.population, n_users=users))
        return validate(cfg)

    def with_cohort(self, name: str, **changes) -> "WorldConfig":
        """A copy with fields of the cohort ``name`` replaced, validated."""
        names = [c.name for c in self.population.cohorts]
        if name not in names:
            raise ConfigError(f"population.cohorts: no cohort {name!r}; cohorts are {names}")
        cohorts = tuple(dataclasses.replace(c, **changes) if c.name == name else c for c in self.population.cohorts)
        return validate(dataclasses.replace(self, population=dataclasses.replace(self.population, cohorts=cohorts)))


PRESETS: dict[str, WorldConfig] = {
    # The canonical world of the article: about 180 days and 3 million purchases.
    "default": WorldConfig(),
    # Large enough for the lessons' signatures to be stable, small enough for the test suite.
    "lesson": WorldConfig(population=PopulationConfig(n_users=8_000)),
    # Fast: for unit tests and a first look.
    "small": WorldConfig(horizon=HorizonConfig(days=60), population=PopulationConfig(n_users=1_500)),
}


def preset(name: str) -> WorldConfig:
    """The named preset; raises :class:`ConfigError` listing the presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"preset: {name!r} is not a preset; choose one of {sorted(PRESETS)}") from None


# --- validation -------------------------------------------------------------------------------

def _fail(path: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{path}: {value!r} is not allowed; expected {allowed}")


def _interval(meta: dict) -> str:
    lo = "-inf" if meta["lo"] is None else meta["lo"]
    hi = "inf" if meta["hi"] is None else meta["hi"]
    return f"{'(' if meta['lo_open'] else '['}{lo}, {hi}{')' if meta['hi_open'] else ']'}"


def _check_number(path: str, value: Any, meta: dict) -> None:
    kind = meta["kind"]
    if isinstance(value, bool) or not isinstance(value, kind):
        _fail(path, value, f"{'an integer' if kind is int else 'a number'} in {_interval(meta)}")
    lo, hi = meta["lo"], meta["hi"]
    below = lo is not None and (value <= lo if meta["lo_open"] else value < lo)
    above = hi is not None and (value >= hi if meta["hi_open"] else value > hi)
    if below or above or value != value:
        _fail(path, value, f"a value in {_interval(meta)}")


def _check_weights(path: str, weights: Any, length: int | None = None) -> None:
    ok = isinstance(weights, (tuple, list)) and len(weights) > 0 and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0 for w in weights)
    if not ok or sum(weights) <= 0 or (length is not None and len(weights) != length):
        n = f"{length} " if length else ""
        _fail(path, weights, f"a list of {n}non-negative numbers with a positive sum")


def _check_range(path: str, pair: Any, lo: float, hi: float) -> None:
    ok = (isinstance(pair, (tuple, list)) and len(pair) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair)
          and lo <= pair[0] <= pair[1] <= hi)
    if not ok:
        _fail(path, pair, f"a pair [low, high] with {lo} <= low <= high <= {hi}")


def _check_cohort(path: str, c: CohortConfig) -> None:
    if not isinstance(c.name, str) or not c.name.isidentifier():
        _fail(f"{path}.name", c.name, "a non-empty identifier such as 'mature'")
    if not isinstance(c.region, str) or not c.region:
        _fail(f"{path}.region", c.region, "a non-empty string")
    if (c.tenure_at_start_days is None) == (c.arrival_fraction is None):
        _fail(path, c.name, "exactly one of tenure_at_start_days (existing users) "
                            "or arrival_fraction (users arriving during the horizon)")
    if c.tenure_at_start_days is not None:
        _check_range(f"{path}.tenure_at_start_days", c.tenure_at_start_days, 0, 36500)
        if c.new_mcc_share > 0:
            _fail(f"{path}.new_mcc_share", c.new_mcc_share,
                  "0 for a cohort that exists before the horizon (new categories arrive with new cohorts)")
    else:
        _check_range(f"{path}.arrival_fraction", c.arrival_fraction, 0, 1)
    if not isinstance(c.channels, Mapping) or not c.channels:
        _fail(f"{path}.channels", c.channels, "a table of channel name -> share")
    _check_weights(f"{path}.channels", list(c.channels.values()))


def validate(config: WorldConfig) -> WorldConfig:
    """Check every field of ``config``; return it unchanged or raise :class:`ConfigError`."""
    if not isinstance(config, WorldConfig):
        raise ConfigError(f"config: expected a WorldConfig, got {type(config).__name__}")
    _validate_fields(config, "")
    if not isinstance(config.horizon.start, dt.date) or isinstance(config.horizon.start, dt.datetime):
        _fail("horizon.start", config.horizon.start, "a date such as 2026-01-05")
    cohorts = config.population.cohorts
    if not isinstance(cohorts, tuple) or not cohorts:
        _fail("population.cohorts", cohorts, "at least one cohort")
    names = [c.name for c in cohorts]
    if len(set(names)) != len(names):
        _fail("population.cohorts", names, "unique cohort names")
    for i, c in enumerate(cohorts):
        _check_cohort(f"population.cohorts[{i}]", c)
    total = sum(c.share for c in cohorts)
    if abs(total - 1.0) > 1e-6:
        _fail("population.cohorts.share", [c.share for c in cohorts], f"shares summing to 1 (they sum to {total:g})")
    a = config.activity
    _check_weights("activity.hourly_weights", a.hourly_weights, 24)
    _check_weights("activity.weekday_weights", a.weekday_weights, 7)
    m = config.merchants
    for name in ("mccs", "new_mccs"):
        codes = getattr(m, name)
        if not isinstance(codes, tuple) or not all(isinstance(x, str) and x.isdigit() and len(x) == 4 for x in codes):
            _fail(f"merchants.{name}", codes, "a list of 4-digit category codes as strings, e.g. ['5411']")
    if not m.mccs:
        _fail("merchants.mccs", m.mccs, "at least one category code")
    if set(m.mccs) & set(m.new_mccs):
        _fail("merchants.new_mccs", m.new_mccs, "codes not already in merchants.mccs")
    wants_new = any(c.new_mcc_share > 0 for c in cohorts)
    if wants_new and (not m.new_mccs or m.new_mcc_merchant_share == 0):
        _fail("merchants.new_mccs", m.new_mccs,
              "at least one code and new_mcc_merchant_share > 0 when a cohort has new_mcc_share > 0")
    n_new = round(m.n_merchants * m.new_mcc_merchant_share) if wants_new else 0
    if wants_new and not 1 <= n_new < m.n_merchants:
        _fail("merchants.n_merchants", m.n_merchants, "enough merchants for both home and new categories")
    cb = config.chargebacks
    for name in ("takeover_delays", "new_account_delays"):
        delays = getattr(cb, name)
        if not isinstance(delays, tuple) or not delays:
            _fail(f"chargebacks.{name}", delays, "at least one delay component")
        _check_weights(f"chargebacks.{name}.weight", [d.weight for d in delays])
    if not isinstance(config.batch_job.run_time, dt.time):
        _fail("batch_job.run_time", config.batch_job.run_time, "a time of day such as '23:55'")
    o = config.outages
    if not isinstance(o.peak_windows_hours, tuple):
        _fail("outages.peak_windows_hours", o.peak_windows_hours, "a list of [start_hour, end_hour] pairs")
    for i, w in enumerate(o.peak_windows_hours):
        _check_range(f"outages.peak_windows_hours[{i}]", w, 0, 24)
    _check_range("outages.failure_rate_range", o.failure_rate_range, 0, 1)
    return config


def _validate_fields(obj: Any, prefix: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        path = f"{prefix}{f.name}"
        if f.metadata:
            _check_number(path, value, f.metadata)
        elif dataclasses.is_dataclass(value):
            _validate_fields(value, path + ".")
        elif isinstance(value, tuple) and value and all(dataclasses.is_dataclass(v) for v in value):
            for i, v in enumerate(value):
                _validate_fields(v, f"{path}[{i}].")


# --- loading from TOML / mappings ------------------------------------------------------------

def _parse_date(path: str, value: Any) -> dt.date:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    _fail(path, value, "a date such as 2026-01-05")


def _parse_time(path: str, value: Any) -> dt.time:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str):
        try:
            return dt.time.fromisoformat(value)
        except ValueError:
            pass
    _fail(path, value, "a time of day such as '23:55'")


def _as_tuple(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    return value


def from_mapping(cls: type, data: Mapping[str, Any], path: str = "") -> Any:
    """Build the dataclass ``cls`` from nested mappings, refusing unknown keys.

    Missing keys keep their defaults. Values are converted only where TOML
    cannot express the type (lists become tuples, '23:55' becomes a time);
    ranges are checked by :func:`validate` afterwards.
    """
    if not isinstance(data, Mapping):
        _fail(path.rstrip(".") or "config", data, "a table of settings")
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{path}{key}: unknown setting{hint}; allowed: {', '.join(sorted(known))}")
        kwargs[key] = _convert(known[key], value, f"{path}{key}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field (a cohort's name) is missing
        raise ConfigError(f"{path.rstrip('.') or 'config'}: {exc}") from None


def _convert(f: dataclasses.Field, value: Any, path: str) -> Any:
    default = f.default if f.default is not dataclasses.MISSING else (
        f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
    if dataclasses.is_dataclass(default):
        return from_mapping(type(default), value, path + ".")
    if f.name == "cohorts":
        if not isinstance(value, list):
            _fail(path, value, "a list of cohort tables ([[population.cohorts]])")
        return tuple(from_mapping(CohortConfig, v, f"{path}[{i}].") for i, v in enumerate(value))
    if f.name.endswith("_delays"):
        if not isinstance(value, list):
            _fail(path, value, f"a list of delay tables ([[chargebacks.{f.name}]])")
        return tuple(from_mapping(ReportDelay, v, f"{path}[{i}].") for i, v in enumerate(value))
    if f.name == "run_time":
        return _parse_time(path, value)
    if f.name == "start":
        return _parse_date(path, value)
    if f.name == "channels":
        return dict(value) if isinstance(value, Mapping) else value
    return _as_tuple(value)


def load_config(source: str | Path | Mapping[str, Any] | None = None, *, base: str = "default") -> WorldConfig:
    """A validated :class:`WorldConfig` from a TOML file or mapping, over a preset.

    Keys present in ``source`` replace the preset's values table by table; a
    listed array of tables (``[[population.cohorts]]``) replaces the whole list.
    """
    cfg = preset(base)
    if source is None:
        return validate(cfg)
    if isinstance(source, Mapping):
        data = source
    else:
        p = Path(source)
        try:
            data = tomllib.loads(p.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file: {str(p)!r} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file: {str(p)!r} is not valid TOML ({exc})") from None
    merged = _merge(to_mapping(cfg), data)
    return validate(from_mapping(WorldConfig, merged))


def _merge(base: dict, override: Mapping) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(base[k], v) if isinstance(v, Mapping) and isinstance(base.get(k), dict) \
            and k != "channels" else v
    return out


def to_mapping(config: Any) -> Any:
    """The config as plain JSON/TOML-friendly data (tuples as lists, times as 'HH:MM')."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_mapping(getattr(config, f.name)) for f in dataclasses.fields(config)
                if getattr(config, f.name) is not None}
    if isinstance(config, (tuple, list)):
        return [to_mapping(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_mapping(v) for k, v in config.items()}
    if isinstance(config, dt.time):
        return config.isoformat(timespec="seconds" if config.second else "minutes")
    if isinstance(config, dt.date):
        return config.isoformat()
    return config
