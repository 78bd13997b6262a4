"""The ``fraudworld`` command: generate a world to Parquet, or summarise one.

``fraudworld generate --out DIR`` writes a world (atomically: nothing is left at
DIR if it fails or is interrupted) and prints a one-screen summary;
``fraudworld summary DIR`` prints the summary of a world already written;
``fraudworld doctor`` checks the machine is ready for the notebooks (see :mod:`simulator.doctor`);
``fraudworld audit TABLE --spec SPEC.toml --out DIR`` audits a training table (see
:mod:`simulator.audit.cli`: its own exit codes, 1 meaning findings).

Exit codes: 0 success; 2 bad arguments, a bad config, a missing world or an
output directory that is not empty (without ``--force``); 1 an operating
system failure while reading or writing (disk full, permissions); 130
interrupted.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import textwrap
import traceback
from pathlib import Path
from typing import Sequence

from . import __version__, paths
from .audit import cli as audit_cli
from .config import PRESETS, ConfigError, WorldConfig, load_config
from .engines import ENGINES, EngineError, open_engine
from .generation import ShardError, write_world
from .rng import check_seed
from .storage import MANIFEST, TIME_CONVENTION, OutputExistsError, check_output
from .world import SHARD_SIZE
from .summary import TABLE_DESCRIPTIONS, Tally, format_summary, summarize_saved

PROG = "fraudworld"
WIDTH = 78
DESCRIPTION = (
    "A synthetic fraud world, written as Parquet tables, for learning how fraud models that look "
    "great offline fail in production.",
    "Every fact has two times: when it happened (event_time) and when the system could know it "
    "(reported_at, available_at). All times are {time}.",
    "A world is a directory with one Parquet dataset per table (a folder <table>/ of parts, one per "
    "shard of users) and {manifest} (config, seed, rows and digest per table, versions):",
)
EXIT_CODES = """\
exit codes: 0 success; 2 bad arguments, a bad config, a missing world or a
non-empty output directory without --force; 1 an operating system failure
while reading or writing; 130 interrupted (a world being generated is then
not written at all). `audit` and `doctor` have their own: 1 means findings at
or above --fail-on, or a failed check."""
GENERATE_EXAMPLES = """\
examples:
  fraudworld generate --out data/small --preset small --seed 1
  fraudworld generate --out data/custom --config my_world.toml --days 90
  fraudworld generate --out data/small --preset small --force   # replace it
  fraudworld generate --out data/big --users 1000000 --engine dask --workers 2

The config is the preset, overlaid with --config (a TOML file whose tables
mirror simulator.config.WorldConfig, e.g. [horizon] days = 90), then with
--days and --users. Same config and seed, same tables."""


def _paragraphs(*texts: str) -> str:
    return "\n\n".join(textwrap.fill(t, WIDTH, break_on_hyphens=False) for t in texts)


def _description() -> str:
    text = _paragraphs(*(p.format(time=TIME_CONVENTION, manifest=MANIFEST) for p in DESCRIPTION))
    return text + "".join(f"\n  {name:<15} {what}" for name, what in TABLE_DESCRIPTIONS.items())


def _int_or_text(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text  # the validator names the field and says what is allowed


def _seed(text: str) -> int:
    try:
        return check_seed(_int_or_text(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _existing_file(text: str) -> Path:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text!r} is not a file")
    return Path(text)


def _positive(name: str):
    """An argparse type for a whole number of at least 1."""
    def parse(text: str) -> int:
        value = _int_or_text(text)
        if not isinstance(value, int) or value < 1:
            raise argparse.ArgumentTypeError(f"{name}: {text!r} must be a whole number of at least 1")
        return value
    parse.__name__ = name
    return parse


def _override(name: str):
    """An argparse type for ``--days``/``--users``, range-checked by the config's own validation."""
    def parse(text: str) -> int | str:
        value = _int_or_text(text)
        try:
            WorldConfig().with_overrides(**{name: value})
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value
    parse.__name__ = name
    return parse


def build_parser() -> argparse.ArgumentParser:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog=PROG, description=_description(), epilog=EXIT_CODES, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser("generate", help="generate a world into a directory and summarise it",
                              description=_paragraphs(
                                  "Generate a world, shard by shard, into DIR (atomically: written to a hidden "
                                  "temporary directory beside DIR and renamed at the end), then print its summary."),
                              epilog=f"{GENERATE_EXAMPLES}\n\n{EXIT_CODES}", formatter_class=raw)
    gen.add_argument("--out", required=True, metavar="DIR", help="the directory to write (must not exist or be "
                                                                 "empty, unless --force)")
    gen.add_argument("--config", metavar="FILE", help="a TOML file overriding the preset's settings")
    presets = "; ".join(f"{name}: {c.horizon.days} days, {c.population.n_users:,} users"
                        for name, c in PRESETS.items())
    gen.add_argument("--preset", default="default", choices=sorted(PRESETS),
                     help=f"the base config (default: %(default)s). {presets}")
    gen.add_argument("--seed", type=_seed, default=0, metavar="N",
                     help="the random seed, a non-negative integer (default: %(default)s)")
    gen.add_argument("--days", type=_override("days"), metavar="N",
                     help="horizon.days: the length of the simulated period in days")
    gen.add_argument("--users", type=_override("users"), metavar="N",
                     help="population.n_users: how many users exist by the end of the horizon")
    gen.add_argument("--force", action="store_true", help="replace DIR if it exists and is not empty")
    where = gen.add_argument_group("where the shards are generated (the world is the same on any engine)")
    where.add_argument("--engine", default="local", choices=ENGINES,
                       help="local: threads in this process (default); dask: a Dask cluster")
    where.add_argument("--workers", type=_positive("workers"), metavar="N",
                       help="local: threads (default: up to 2 CPUs); dask: start a LocalCluster of N worker "
                            "processes (default: one per CPU)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="dask: connect to the running cluster at ADDRESS (e.g. tcp://10.0.0.5:8786); DIR "
                            "must then be on a file system every worker can write")
    where.add_argument("--shards-per-task", type=_positive("shards-per-task"), default=1, metavar="N",
                       help=f"shards of {SHARD_SIZE:,} users generated by each task (default: %(default)s)")
    gen.set_defaults(run=_generate)

    show = commands.add_parser("summary", help="print the summary of a world already written",
                               description="Print the one-screen summary of a world written by "
                                           "'fraudworld generate' (or World.save).",
                               epilog=EXIT_CODES, formatter_class=raw)
    show.add_argument("dir", metavar="DIR", help="the world's directory")
    show.add_argument("--json", action="store_true", help="print the numbers as JSON instead")
    show.set_defaults(run=_summary)

    doc = commands.add_parser("doctor", help="check this machine is ready for the notebooks; warm the world cache",
                              description=_paragraphs(
                                  "Check the Python version, the installed packages (against the package's "
                                  "ranges and the workshop's lock file of tested versions), that the Jupyter "
                                  "kernel imports fraudworld, OMP_NUM_THREADS, free disk and memory; then "
                                  "generate the notebooks' world into the cache. Prints what to fix."),
                              epilog="exit codes: 0 ready (warnings are printed, not fatal); 1 a check failed; "
                                     "2 bad arguments.", formatter_class=raw)
    doc.add_argument("--no-warm", dest="warm", action="store_false",
                     help="skip generating the notebooks' world into the cache")
    doc.add_argument("--lock", type=_existing_file, default=paths.WORKSHOP_LOCK, metavar="FILE",
                     help="the lock file to compare with (default: requirements/workshop.txt of the checkout)")
    doc.set_defaults(run=_doctor)

    audit_cli.add_parser(commands, WIDTH)
    return parser


def _generate(args: argparse.Namespace) -> int:
    config = load_config(args.config, base=args.preset).with_overrides(days=args.days, users=args.users)
    out = Path(args.out)
    tally = Tally(config, args.seed)  # the summary, counted as the shards are written: nothing is read back
    try:
        check_output(out, args.force)  # before starting a cluster
        with open_engine(args.engine, workers=args.workers, scheduler=args.scheduler) as engine:
            write_world(out, config, seed=args.seed, force=args.force, progress=True, tally=tally, engine=engine,
                        shards_per_task=args.shards_per_task)
    except KeyboardInterrupt:
        return _error(f"interrupted; nothing was written to {str(out)!r}", 130)
    except ShardError as exc:
        traceback.print_exception(exc.__cause__, file=sys.stderr)
        return _error(f"{exc}; nothing was written to {str(out)!r} (the task's traceback is above)", 1)
    print(f"wrote {out} (preset {args.preset}, seed {args.seed})\n")
    print(format_summary(tally.summary()))
    return 0


def _summary(args: argparse.Namespace) -> int:
    summary = summarize_saved(args.dir)
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from . import doctor  # imported when asked for: it reads package metadata the other commands never need
    try:
        found = doctor.checks(warm=args.warm, lock=args.lock)
    except doctor.LockFileError as exc:  # bad input: say which, exit 2
        return _error(str(exc), 2)
    print(doctor.report(found))
    failed = [c.name for c in found if c.status == doctor.FAIL]
    print(f"\n{'not ready: fix ' + ', '.join(failed) if failed else 'ready for the workshop'}")
    return doctor.exit_code(found)


def _error(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help/--version (0) or a usage error (2), already printed by argparse
        return int(exc.code or 0)
    try:
        return args.run(args)
    except (ConfigError, EngineError, OutputExistsError, FileNotFoundError) as exc:  # bad input: say which, exit 2
        return _error(str(exc), 2)
    except OSError as exc:
        return _error(str(exc), 1)
    except KeyboardInterrupt:
        return _error("interrupted", 130)


def console() -> int:
    """The ``fraudworld`` command, a process of its own: :func:`main` on ``sys.argv``."""
    # The objects made by the imports (pandas', pyarrow's) live as long as the process: moved out
    # of the collector's sight, no collection walks them again, the one at exit included (a
    # quarter of a second of a short command). Not in main(), which a caller's process may run often.
    gc.freeze()
    return main()


if __name__ == "__main__":
    sys.exit(console())
