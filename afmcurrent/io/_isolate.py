"""Run a reader in a forked child with a time limit (private).

Some corrupt files make a C library hang or crash inside the reading call (libhdf5 loops on a
damaged global heap while reading a variable-length string attribute; it can also segfault),
where no Python-level check can intervene. :func:`call_isolated` runs such a reader in a
forked child: the result comes back pickled through a pipe; a child that runs past the time
limit is killed, one that dies is reported, and both become a :class:`ReadError` naming the
file. Forking costs a few milliseconds. In a process that runs other threads, forking is not
safe (a lock held by another thread stays held in the child), so the reader is then called
in-process.
"""

from __future__ import annotations

import faulthandler
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import ReadError

__all__ = ["call_isolated"]


def call_isolated(fn: Callable[[Path], Any], path: Path, timeout: float, what: str) -> Any:
    """Return ``fn(path)`` computed in a forked child (see the module docstring).

    Parameters
    ----------
    fn : callable
        The reader; raises ReadError on bad input.
    path : Path
        The file (named in every error).
    timeout : float
        Time limit in s.
    what : str
        Name of the reader for messages (``"HDF5"``).

    Raises
    ------
    ReadError
        What ``fn`` raised, or: time limit exceeded, child killed by a signal, no result.
    """
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return fn(path)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns
        faulthandler.disable()  # a crash becomes the parent's ReadError, not a dump on stderr
        code = 0
        try:
            os.close(r)
            try:
                out: tuple[str, Any] = ("ok", fn(path))
            except ReadError as exc:
                out = ("readerror", str(exc))
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                out = ("error", f"{type(exc).__name__}: {exc}")
            try:
                blob = pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # noqa: BLE001
                blob = pickle.dumps(("error", f"unpicklable result ({exc})"))
            view = memoryview(blob)
            while view:
                n = os.write(w, view)
                view = view[n:]
        except BaseException:  # noqa: BLE001
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(r, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    finally:
        os.close(r)
        if timed_out:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _, status = os.waitpid(pid, 0)
    if timed_out:
        raise ReadError(f"{path}: the {what} reader did not finish within {timeout:g} s "
                        "(stopped; a corrupt file?)")
    if os.WIFSIGNALED(status):
        raise ReadError(f"{path}: the {what} library crashed on this file (signal "
                        f"{os.WTERMSIG(status)}): corrupt file")
    try:
        kind, value = pickle.loads(b"".join(chunks))
    except Exception as exc:
        raise ReadError(f"{path}: the {what} reader ended without a result (corrupt file?)"
                        ) from exc
    if kind == "ok":
        return value
    if kind == "readerror":
        raise ReadError(value)
    raise ReadError(f"{path}: internal error in the {what} reader ({value})")
