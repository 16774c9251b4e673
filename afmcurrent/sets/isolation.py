"""Work on untrusted files in child processes that may crash or hang without taking the caller down.

A corrupt scan file can make a reading library crash the interpreter (libhdf5 segfaults on some
damaged files) or loop for ever (a ``.gwy`` string without its terminating NUL). A batch reads
hundreds of such files: :class:`IsolatedPool` runs each task in one of a few persistent child
processes, and a child that dies or overruns the task's time limit is killed and replaced, its
task alone failing with :class:`WorkerDied` or :class:`TaskTimeout`. The children persist, so
isolation costs one pickled message each way per task, not a process per file.

The pool is driven from the calling thread (no dispatcher thread): :meth:`IsolatedPool.submit`
hands a task to an idle child or queues it, and waiting on results
(:meth:`IsolatedPool.as_completed`, :meth:`Handle.result`) moves the pool on. On Linux the
children are forked (they inherit the modules the caller has imported, so they start in
milliseconds) and die with the calling process (``PR_SET_PDEATHSIG``); elsewhere they are
spawned.
"""

from __future__ import annotations

import collections
import faulthandler
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

__all__ = ["IsolatedPool", "Handle", "TaskFailed", "WorkerDied", "TaskTimeout", "run_isolated"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_DEFAULT: Any = object()  # "the pool's default time limit"


class TaskFailed(RuntimeError):
    """A task could not complete because its child process was lost."""


class WorkerDied(TaskFailed):
    """The child process running a task died (crash, signal, out of memory)."""


class TaskTimeout(TaskFailed):
    """A task ran past its time limit; its child process was killed."""


def _die_with_parent(parent: int) -> None:
    """Linux: have the kernel kill this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_main(conn: Any, parent: int, initializer: Callable[[], Any] | None) -> None:
    """Loop of a child: receive ``(fn, args)``, send back ``("ok", value)`` or ``("err", exc)``."""
    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl-C and ends the pool
    faulthandler.disable()  # a crash is reported by the parent as the task's failure, once
    if initializer is not None:
        initializer()
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        try:
            msg = pickle.loads(data)
        except Exception as exc:
            out: tuple[str, Any] = ("err", TaskFailed(f"task cannot be read in the worker "
                                                      f"process: {type(exc).__name__}: {exc}"))
        else:
            if msg is None:
                return
            fn, args = msg
            try:
                out = ("ok", fn(*args))
            except Exception as exc:
                out = ("err", exc)
        try:
            blob = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # a value or exception that cannot be pickled
            blob = pickle.dumps(("err", TaskFailed(
                f"result cannot be sent back: {type(exc).__name__}: {exc}")))
        conn.send_bytes(blob)


def _signal_name(code: int | None) -> str:
    if code is None:
        return "no exit status"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


class Handle:
    """A submitted task; :meth:`result` waits for it (moving the pool on meanwhile)."""

    def __init__(self, pool: IsolatedPool | None, fn: Callable[..., Any], args: tuple[Any, ...],
                 timeout: float | None) -> None:
        self._pool, self.fn, self.args, self.timeout = pool, fn, args, timeout
        self._blob: bytes | None = None
        self._done = False
        self._value: Any = None
        self._error: BaseException | None = None

    def _set(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error, self._done = value, error, True
        self._blob = None

    def done(self) -> bool:
        """Whether the task has finished (or failed)."""
        return self._done

    def exception(self) -> BaseException | None:
        """The task's exception (waits for it); None when it succeeded."""
        while not self._done:
            assert self._pool is not None
            self._pool._pump()
        return self._error

    def result(self) -> Any:
        """The task's value (waits for it).

        Raises
        ------
        Exception
            What the task raised, or :class:`WorkerDied` / :class:`TaskTimeout`.
        """
        err = self.exception()
        if err is not None:
            raise err
        return self._value


class _Worker:
    def __init__(self, ctx: Any, initializer: Callable[[], Any] | None) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, os.getpid(), initializer),
                                   daemon=True)
        self.process.start()
        child.close()
        #: tasks sent, in order: the first runs, the next waits in the pipe
        self.tasks: collections.deque[Handle] = collections.deque()
        self.deadline = float("inf")

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


#: A second task is sent to a busy child only when its message is this small, so that it
#: waits in the pipe's buffer (sending never blocks while the child computes).
_PREFETCH_BYTES = 32 << 10


class IsolatedPool:
    """Persistent child processes running tasks with crash and time-limit isolation.

    Parameters
    ----------
    workers : int
        Number of child processes (at least 1).
    initializer : callable, optional
        Run once in each child when it starts (a module-level function).
    timeout : float, optional
        Default time limit of a task, s (None: no limit).
    before_fork : callable, optional
        Called before a child is started to replace one that was lost (e.g. to wait for a
        thread of the caller's that must not be running during a fork).

    Notes
    -----
    Tasks are ``(fn, *args)`` with ``fn`` a module-level function; arguments and results are
    pickled. Use as a context manager: leaving it stops the children (killing any still busy).
    """

    def __init__(self, workers: int, *, initializer: Callable[[], Any] | None = None,
                 timeout: float | None = None,
                 before_fork: Callable[[], Any] | None = None) -> None:
        method = "fork" if sys.platform.startswith("linux") else "spawn"
        self._ctx = multiprocessing.get_context(method)
        self._initializer = initializer
        self.timeout = timeout
        self.before_fork = before_fork
        self._queue: collections.deque[Handle] = collections.deque()
        self._workers = [_Worker(self._ctx, initializer) for _ in range(max(1, int(workers)))]
        self.replaced = 0

    # -- submitting -------------------------------------------------------------------------
    def submit(self, fn: Callable[..., Any], *args: Any, timeout: float | None = _DEFAULT
               ) -> Handle:
        """Start ``fn(*args)`` in a child (or queue it until one is free).

        ``timeout`` (s) overrides the pool's default; None: no limit.
        """
        h = Handle(self, fn, args, self.timeout if timeout is _DEFAULT else timeout)
        self._queue.append(h)
        self._dispatch()
        return h

    def as_completed(self, handles: Iterable[Handle]) -> Iterator[Handle]:
        """Yield the handles as their tasks finish (or fail); a yielded handle is not kept."""
        pending = list(handles)
        del handles  # the caller's list: it would keep every finished handle's result
        while pending:
            done = [h for h in pending if h.done()]
            if not done:
                self._pump()
                continue
            for h in done:
                pending.remove(h)
                yield h

    def map(self, fn: Callable[..., Any], tasks: Iterable[tuple[Any, ...]],
            timeout: float | None = _DEFAULT) -> Iterator[Handle]:
        """Run ``fn(*task)`` for every task; yield the handles in completion order."""
        return self.as_completed([self.submit(fn, *t, timeout=timeout) for t in tasks])

    # -- the engine -------------------------------------------------------------------------
    @staticmethod
    def _message(h: Handle) -> bytes | None:
        """The pickled task (None, and the task failed, when it cannot be pickled)."""
        if h._blob is None:
            try:
                h._blob = pickle.dumps((h.fn, h.args), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                h._set(error=TaskFailed(f"task {getattr(h.fn, '__name__', h.fn)} cannot be sent "
                                        f"to a worker process: {type(exc).__name__}: {exc}"))
                return None
        return h._blob

    def _dispatch(self) -> None:
        """Give a task to every idle child, then a second small one to each busy child (so
        that it starts at once when the first ends, without waiting for this process)."""
        for depth in (0, 1):
            for w in list(self._workers):
                while self._queue and self._queue[0].done():  # failed to pickle
                    self._queue.popleft()
                if not self._queue:
                    return
                if len(w.tasks) != depth:
                    continue
                if not w.tasks and not w.process.is_alive():  # died while idle (OOM killer)
                    w = self._lost(w, None)
                h = self._queue[0]
                blob = self._message(h)
                if blob is None or (depth and len(blob) > _PREFETCH_BYTES):
                    continue
                try:
                    w.conn.send_bytes(blob)
                except (OSError, EOFError):
                    if not w.tasks:  # gone while idle; a busy one is found dead by _pump
                        self._lost(w, None)
                    continue
                self._queue.popleft()
                if not w.tasks:
                    w.deadline = time.monotonic() + h.timeout if h.timeout else float("inf")
                w.tasks.append(h)

    def _lost(self, w: _Worker, error: BaseException | None) -> _Worker:
        """Replace a child; its running task fails with ``error``, the ones waiting in its
        pipe go back to the front of the queue."""
        if w.tasks:
            head = w.tasks.popleft()
            if error is not None:
                head._set(error=error)
            else:
                w.tasks.appendleft(head)
        self._queue.extendleft(reversed(w.tasks))
        w.tasks.clear()
        w.kill()
        if self.before_fork is not None:
            self.before_fork()
        i = self._workers.index(w)
        self._workers[i] = _Worker(self._ctx, self._initializer)
        self.replaced += 1
        return self._workers[i]

    def _pump(self) -> None:
        """Hand out queued tasks, then wait for one event: a result, a death or a deadline."""
        self._dispatch()
        busy = [w for w in self._workers if w.tasks]
        if not busy:
            if self._queue:  # every child died before taking a task: replaced in _dispatch
                return
            raise RuntimeError("nothing to wait for")
        now = time.monotonic()
        wait = min(w.deadline for w in busy) - now
        objs = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = multiprocessing.connection.wait(objs, timeout=max(0.0, min(wait, 3600.0)))
        now = time.monotonic()
        for w in busy:
            h = w.tasks[0]
            name = getattr(h.fn, "__name__", h.fn)
            if w.conn in ready:
                try:
                    data = w.conn.recv_bytes()
                except (EOFError, OSError):
                    w.process.join(1)
                    self._lost(w, WorkerDied(f"the worker process died running this task "
                                             f"({_signal_name(w.process.exitcode)})"))
                    continue
                w.tasks.popleft()
                try:
                    status, payload = pickle.loads(data)
                except Exception as exc:  # a result that cannot be unpickled here
                    h._set(error=TaskFailed(f"result cannot be read: {type(exc).__name__}: "
                                            f"{exc}"))
                else:
                    if status == "ok":
                        h._set(value=payload)
                    else:
                        h._set(error=payload)
                nxt = w.tasks[0].timeout if w.tasks else None
                w.deadline = now + nxt if nxt else float("inf")
            elif w.process.sentinel in ready:
                w.process.join(1)
                code = w.process.exitcode
                logger.warning("worker process %s died (%s) running %s", w.process.pid,
                               _signal_name(code), name)
                self._lost(w, WorkerDied(
                    f"the worker process died running this task ({_signal_name(code)})"))
            elif now >= w.deadline:
                logger.warning("worker process %s: %s over its time limit (%g s): killed",
                               w.process.pid, name, h.timeout)
                self._lost(w, TaskTimeout(
                    f"no result within the time limit of {h.timeout:g} s; the worker process "
                    "was killed"))
        self._dispatch()

    # -- ending -----------------------------------------------------------------------------
    def close(self, kill: bool = False) -> None:
        """Stop the children: idle ones are asked to exit, busy ones (or all with ``kill``)
        are killed. Queued tasks fail with :class:`TaskFailed`."""
        while self._queue:
            self._queue.popleft()._set(error=TaskFailed("the pool was closed"))
        for w in self._workers:
            if w.tasks or kill:
                for h in w.tasks:
                    h._set(error=TaskFailed("the pool was closed"))
                w.tasks.clear()
                w.kill()
                continue
            try:
                w.conn.send_bytes(pickle.dumps(None))
            except (OSError, EOFError):
                pass
        for w in self._workers:
            w.process.join(5)
            if w.process.is_alive():
                w.kill()
            w.conn.close()
        self._workers = []

    def __enter__(self) -> IsolatedPool:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(kill=exc_type is not None)


def run_isolated(fn: Callable[..., Any], *args: Any, timeout: float | None = None) -> Any:
    """Run one ``fn(*args)`` in a child process; see :class:`IsolatedPool`.

    Raises
    ------
    Exception
        What ``fn`` raised, :class:`WorkerDied` or :class:`TaskTimeout`.
    """
    with IsolatedPool(1, timeout=timeout) as pool:
        return pool.submit(fn, *args).result()
