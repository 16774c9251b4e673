"""Where the tasks of a batch run: isolated local worker processes, this process, or Dask.

``workers=N`` (N >= 1): N persistent child processes (:class:`afmcurrent.sets.isolation.
IsolatedPool`): a child that crashes (a reading library's segfault) or overruns the time limit
per pair is killed and replaced, and its pair alone fails with the reason; ``workers=0``: the
calling process, without that protection; ``scheduler="tcp://host:port"``: a running Dask
distributed cluster (workers must see the same paths; a pair whose worker dies fails alone, no
time limit). Every executor runs the same tasks, with one BLAS thread each, so the class maps do
not depend on the executor.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from threadpoolctl import threadpool_limits

from ..core.errors import ConfigError
from .isolation import IsolatedPool

__all__ = [
    "PAIR_TIMEOUT",
    "Runner",
    "executor",
    "one_thread",
    "keep_freed_memory",
]

logger = logging.getLogger(__name__)

#: Default time limit of one pair in a local worker process, s (a reader that loops, a pair
#: far larger than expected): the worker is killed and the pair fails.
PAIR_TIMEOUT = 1800.0


def one_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` with BLAS and OpenMP limited to one thread.

    The local pool runs as many tasks at once as there are cores; numerical libraries that
    start a thread per core in each of them oversubscribe the machine (the pooled pass ran
    ~8 times slower with two workers of two BLAS threads each on 2 cores). Also used in the
    calling process (``workers=1``), so that every executor computes with one thread.
    """

    with threadpool_limits(limits=1):
        return fn(*args)


#: glibc ``mallopt`` parameters (malloc.h) and the values set in pool workers.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_WORKER_TRIM_THRESHOLD = 256 << 20
_WORKER_MMAP_THRESHOLD = 32 << 20  # glibc's largest on 64-bit


def keep_freed_memory() -> None:
    """Let a pool worker (or the CLI's ``--workers 1`` process) keep the memory it frees.

    glibc only; a no-op elsewhere.

    By default glibc gives blocks over 128 kB back to the kernel when they are freed, so every
    map of every pair is faulted in afresh: on 512 x 512 pairs ~18 000 page faults and ~12 %
    of a pair's time. A worker runs one pair after another, so it keeps up to 256 MB of freed
    heap for the next pair instead (its memory stays at its peak; the 1000-pair benchmark
    stays well under 1.5 GB). Only processes of afmcurrent's own are tuned, never a library
    caller's process or a Dask cluster's workers (see docs/batch.md for those).
    """

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt(_M_MMAP_THRESHOLD, _WORKER_MMAP_THRESHOLD)
    mallopt(_M_TRIM_THRESHOLD, _WORKER_TRIM_THRESHOLD)


class Runner:
    """Runs tasks on the chosen executor; one per batch, so the workers start once.

    ``map(fn, tasks)`` runs ``fn(*task)`` for every task and yields ``(task, value, error)``
    as they complete, ``error`` a message (and ``value`` None) when the task raised or its
    worker was lost (crash, time limit, Dask ``KilledWorker``); ``submit(fn, *args)`` starts
    one task and returns a handle whose ``result()`` waits for it (run at once when there is
    no pool).
    """

    def __init__(self, pool: Any = None, client: Any = None, timeout: float | None = None
                 ) -> None:
        self.pool, self.client, self.timeout = pool, client, timeout

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is not None:
            # threadpoolctl limits are process-wide: not set from tasks that may share a
            # worker with others; Dask starts its workers with OMP/OPENBLAS_NUM_THREADS=1
            return self.client.submit(fn, *args, pure=False)
        if self.pool is not None:
            return self.pool.submit(one_thread, fn, *args, timeout=None)

        fut: Future[Any] = Future()
        try:
            fut.set_result(one_thread(fn, *args))
        except Exception as exc:  # re-raised by result(), as a pool's future would
            fut.set_exception(exc)
        return fut

    def map(self, fn: Callable[..., Any], tasks: list[tuple[Any, ...]]
            ) -> Iterator[tuple[tuple[Any, ...], Any, str | None]]:
        if self.client is None and self.pool is None:
            for task in tasks:
                try:
                    yield task, one_thread(fn, *task), None
                except Exception as exc:
                    yield task, None, f"{type(exc).__name__}: {exc}"
            return
        if self.client is not None:
            from dask.distributed import as_completed

            futures = {self.client.submit(fn, *task, pure=False): task for task in tasks}
            for fut in as_completed(list(futures)):
                task = futures.pop(fut)  # a finished task's result is not kept here
                try:
                    yield task, fut.result(), None
                except Exception as exc:  # e.g. KilledWorker: the worker died on this task
                    yield task, None, f"{type(exc).__name__}: {exc}"
                fut.release()
            return
        handles = {self.pool.submit(one_thread, fn, *task, timeout=self.timeout): task
                   for task in tasks}
        # each handle is dropped once its result is handed on: the results of a long set are
        # not all held here until its end (memory flat in the number of tasks)
        for h in self.pool.as_completed(list(handles)):
            task = handles.pop(h)
            err = h.exception()
            if err is None:
                yield task, h.result(), None
            else:
                yield task, None, f"{type(err).__name__}: {err}"


@contextlib.contextmanager
def executor(workers: int, scheduler: str | None, timeout: float | None,
              before_fork: Callable[[], Any] | None = None) -> Iterator[Runner]:
    """The executor of a batch: a Dask client, isolated local processes or this process."""
    if scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ConfigError(
                "--scheduler needs Dask distributed: pip install 'afmcurrent[dask]'") from None
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler}: {exc}") from None
        try:
            yield Runner(client=client)
        finally:
            client.close()
    elif workers <= 0:
        yield Runner()
    else:

        # the pair task's modules, imported once here and inherited by the forked workers
        importlib.import_module("afmcurrent.pair.pipeline")
        with IsolatedPool(workers, initializer=keep_freed_memory, timeout=timeout,
                          before_fork=before_fork) as pool:
            yield Runner(pool=pool, timeout=timeout)



