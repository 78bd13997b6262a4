"""Where tasks run: one interface over threads, any ``concurrent.futures`` executor, or a Dask cluster.

An :class:`Engine` submits a function and its arguments and returns a future
(``.result()``, ``.done()``). An argument that is a future of the same engine
is passed to the function as its result, once it is ready: on Dask it is
resolved on the cluster, so a large result moves from the task that made it to
the task that reads it (usually on the same worker) and never through the
driver; on a local executor the driver waits for it without blocking (for
threads it is free: they share memory).

:func:`open_engine` opens one by name: ``"local"`` (threads in this process,
the default), or ``"dask"`` (a ``distributed.LocalCluster`` of ``workers``
processes, or the cluster whose scheduler is at ``scheduler``).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import CancelledError, Executor, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any, Callable, Iterator

ENGINES = ("local", "dask")
CONNECT_TIMEOUT = 10  # seconds to reach a running scheduler
WORKERS_TIMEOUT = 10  # seconds for a running cluster to have a worker


class EngineError(ValueError):
    """An engine asked for that cannot be: the message names the setting and what is allowed."""


def cpu_count() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Threads for work in this process -- the local engine's shards, the in-memory generator's, model
# fitting: two (each shard in flight holds its tables; two cores are what this is measured on),
# one on a one-CPU machine.
LOCAL_THREADS = min(2, cpu_count())


class Engine:
    """Runs tasks; :attr:`slots` of them at a time."""

    name: str
    slots: int

    def submit(self, fn: Callable, *args: Any) -> Any:
        raise NotImplementedError

    def apply(self, fn: Callable, future: Any) -> Any:
        """A future of ``fn(result)``, for a cheap ``fn`` of a future's (large) result: computed where
        the result is, so only ``fn``'s (small) answer travels."""
        raise NotImplementedError

    def cancel(self, futures: list) -> None:
        for future in futures:
            future.cancel()

    def wait(self, futures: list, timeout: float) -> None:
        """Wait until ``futures`` are done (finished, failed or cancelled), at most ``timeout`` seconds."""
        wait(futures, timeout)

    def describe(self) -> dict:
        """What the manifest records of how a world was made (not part of what it is)."""
        return {"engine": self.name, "slots": self.slots}


class ExecutorEngine(Engine):
    """Any ``concurrent.futures.Executor``: a task whose arguments include futures is submitted
    when they are done, with their results (an error in one becomes the task's error)."""

    def __init__(self, executor: Executor, slots: int, name: str = "local"):
        self.executor, self.slots, self.name = executor, slots, name

    def apply(self, fn: Callable, future: Future) -> Future:
        """Computed in the thread that finishes ``future``, never queued behind other tasks."""
        out: Future = Future()

        def compute(done: Future) -> None:
            if not out.set_running_or_notify_cancel():
                return
            try:
                out.set_result(fn(done.result()))
            except BaseException as exc:  # the input's error (an interrupt included) is this one's
                out.set_exception(exc)

        future.add_done_callback(compute)
        return out

    def submit(self, fn: Callable, *args: Any) -> Future:
        deps = [a for a in args if isinstance(a, Future)]
        if not deps:
            return self.executor.submit(fn, *args)
        out: Future = Future()
        waiting = {"deps": deps, "args": args}  # dropped once submitted: a finished input is not kept alive
        lock = threading.Lock()

        def start(_):
            with lock:
                if waiting["deps"] is None or not all(d.done() for d in waiting["deps"]):
                    return
                ready, call_args = waiting["deps"], waiting["args"]
                waiting["deps"] = waiting["args"] = None
            if not out.set_running_or_notify_cancel():  # cancelled while it waited
                return
            try:
                for d in ready:
                    error = CancelledError("an input of this task was cancelled") if d.cancelled() else d.exception()
                    if error is not None:
                        raise error
                inner = self.executor.submit(fn, *(a.result() if isinstance(a, Future) else a for a in call_args))
            except BaseException as exc:  # an input's error, a shut-down executor, an interrupt: never unresolved
                out.set_exception(exc)
                return
            inner.add_done_callback(lambda f: _copy_outcome(f, out))

        for d in deps:
            d.add_done_callback(start)
        return out


def _copy_outcome(source: Future, target: Future) -> None:
    if source.cancelled():
        target.set_exception(CancelledError("the task was cancelled"))
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


class DaskEngine(Engine):
    """A ``distributed.Client``: tasks are submitted as they are (not pure: every call runs)."""

    def apply(self, fn: Callable, future: Any) -> Any:
        return self.submit(fn, future)

    name = "dask"

    def __init__(self, client):
        self.client = client
        self.slots = max(1, sum(client.nthreads().values()))

    def submit(self, fn: Callable, *args: Any):
        return self.client.submit(fn, *args, pure=False)

    def cancel(self, futures: list) -> None:
        self.client.cancel(futures)

    def wait(self, futures: list, timeout: float) -> None:
        from distributed import wait as wait_distributed
        try:
            wait_distributed(futures, timeout=timeout)
        except Exception:  # a timeout, or futures cancelled meanwhile: done waiting either way
            pass

    def describe(self) -> dict:
        return {"engine": self.name, "slots": self.slots, "workers": len(self.client.nthreads())}


def check_engine(engine: str, workers: int | None, scheduler: str | None) -> None:
    """Raise :class:`EngineError` for a combination that cannot run."""
    if engine not in ENGINES:
        raise EngineError(f"engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if workers is not None and (not isinstance(workers, int) or isinstance(workers, bool) or workers < 1):
        raise EngineError(f"workers: {workers!r} must be a whole number of at least 1")
    if scheduler is not None and engine != "dask":
        raise EngineError("scheduler: only the dask engine connects to a scheduler (add --engine dask)")
    if scheduler is not None and workers is not None:
        raise EngineError("workers: a running cluster (scheduler) has its own workers; give --workers or "
                          "--scheduler, not both")


@contextmanager
def open_engine(engine: str = "local", *, workers: int | None = None, scheduler: str | None = None
                ) -> Iterator[Engine]:
    """An engine by name, shut down on exit (a cluster it started is closed; running tasks are cancelled)."""
    check_engine(engine, workers, scheduler)
    if engine == "local":
        slots = workers or LOCAL_THREADS
        with ThreadPoolExecutor(slots, thread_name_prefix="fraudworld") as pool:
            try:
                yield ExecutorEngine(pool, slots)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
        return
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise EngineError("engine: dask needs the dask and distributed packages: "
                          "pip install 'fraudworld[scale]'") from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT}s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise EngineError(f"scheduler: no Dask scheduler answered at {scheduler!r} within {CONNECT_TIMEOUT} s "
                              f"({type(exc).__name__}: {exc})") from None
        with client:
            check_cluster(client)
            yield DaskEngine(client)
        return
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}), \
            LocalCluster(n_workers=workers or cpu_count(), threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=":0", silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        yield DaskEngine(client)


def identity() -> dict:
    """What decides the world a process generates: the versions of the libraries the manifest records
    and a fingerprint of the generator's code (:func:`simulator.fingerprint.generator_fingerprint`)."""
    from importlib.metadata import version
    from .fingerprint import generator_fingerprint
    from .storage import LIBRARIES
    return {**{name: version(name) for name in LIBRARIES}, "generator": generator_fingerprint()}


def mismatches(driver: dict, workers: dict[str, dict]) -> list[str]:
    """Each way a worker's :func:`identity` differs from the driver's, as ``"<worker>: <what> <theirs>
    (here <ours>)"``."""
    return [f"{worker}: {what} {theirs.get(what)} (here {ours})"
            for worker, theirs in sorted(workers.items()) for what, ours in driver.items() if theirs.get(what) != ours]


def check_cluster(client) -> None:
    """Refuse a running cluster that cannot make this world: one without workers (the tasks would wait
    for ever), or with workers whose libraries or generator code differ from this process's (their
    shards would differ from the ones made here, with nothing to show it)."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        raise EngineError(f"scheduler: the cluster at {client.scheduler.address!r} has no workers "
                          f"(none joined within {WORKERS_TIMEOUT} s)") from None
    try:
        theirs = client.run(identity)
    except Exception as exc:  # e.g. a worker without fraudworld cannot even unpickle the question
        raise EngineError(f"scheduler: the workers could not say what they run ({type(exc).__name__}: {exc}); "
                          "install the same fraudworld and libraries on them") from None
    differ = mismatches(identity(), theirs)
    if differ:
        raise EngineError("scheduler: workers of the cluster run other code than this process, so their shards "
                          "would not be this world's; install the same fraudworld and libraries on them: "
                          + "; ".join(differ))


def worker_environ() -> dict:
    """The environment Dask gives the worker processes it starts, but glibc's own trim threshold.

    Dask sets ``MALLOC_TRIM_THRESHOLD_`` to 64 KiB so that freed memory goes back to the OS at once;
    a shard allocates and frees hundreds of MB a second, and every array then comes back as fresh
    pages to fault in: on one worker, 4.8M purchases took 17.1 s with it and 9.7 s without. (Workers
    started by hand, for ``--scheduler``, take the environment they are started with.)"""
    import dask
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    return environ


__all__ = ["ENGINES", "DaskEngine", "Engine", "EngineError", "ExecutorEngine", "check_cluster", "check_engine",
           "open_engine"]
