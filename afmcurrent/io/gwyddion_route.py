"""Any other format Gwyddion reads: converted by the ``gwyddion`` program, then read as ``.gwy``.

Public API
----------
gwyddion_program() -> str | None
    Path of the ``gwyddion`` executable, or ``None`` where it is not installed.
read_via_gwyddion(path, timeout=60.0) -> Scan
    ``gwyddion --convert-to-gwy=<tmp>.gwy <path>`` into a private temporary folder, then
    :func:`afmcurrent.io.gwy.read_gwy`; the temporary folder is removed afterwards.

Gwyddion (https://gwyddion.net, Debian package ``gwyddion``) reads some 150 SPM formats. The
conversion runs headless in a child process with a time limit; its output is read with the
same reader and checks as a native ``.gwy`` file. Values, units and orientation are
Gwyddion's; ``Scan.format`` is ``"gwyddion-converted"`` and ``metadata["read_route"]`` names
the route. Bias and normalised keys come only from what Gwyddion stores as metadata.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from ..core.errors import ReadError
from ..core.model import Scan
from ._common import check_readable
from .gwy import read_gwy

logger = logging.getLogger(__name__)

__all__ = ["gwyddion_program", "read_via_gwyddion", "DEFAULT_TIMEOUT_S"]

#: Time limit of one conversion (s).
DEFAULT_TIMEOUT_S = 60.0


def gwyddion_program() -> str | None:
    """Path of the ``gwyddion`` executable (``AFMCURRENT_GWYDDION`` overrides), or None."""
    exe = os.environ.get("AFMCURRENT_GWYDDION")
    if exe:
        return exe if (Path(exe).is_file() and os.access(exe, os.X_OK)) else None
    return shutil.which("gwyddion")


def read_via_gwyddion(path: str | Path, timeout: float = DEFAULT_TIMEOUT_S) -> Scan:
    """Read a file of a format afmcurrent does not read natively, through Gwyddion.

    Parameters
    ----------
    path : str or Path
        Any file Gwyddion can open.
    timeout : float, optional
        Time limit of the conversion in s.

    Returns
    -------
    Scan
        As :func:`afmcurrent.io.gwy.read_gwy` reads the converted file, with
        ``format="gwyddion-converted"`` and ``path`` the original file.

    Raises
    ------
    ReadError
        Gwyddion is not installed, does not recognise the file, fails, or exceeds the time
        limit (the conversion is killed), or its output holds no image.
    """
    p = check_readable(path)
    exe = gwyddion_program()
    if exe is None:
        raise ReadError(f"{p}: Gwyddion is not installed; cannot convert this format")
    logger.info("%s: not a natively read format; converting it with Gwyddion (%s "
                "--convert-to-gwy)", p, exe)
    with tempfile.TemporaryDirectory(prefix="afmcurrent-gwy-") as tmp:
        out = Path(tmp) / "converted.gwy"
        env = dict(os.environ)
        env.pop("DISPLAY", None)  # headless, never opens a window
        try:
            # own process group: on timeout the whole group is killed (no orphan holds the
            # pipes open)
            proc = subprocess.Popen([exe, f"--convert-to-gwy={out}", str(p.resolve())],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, cwd=tmp, env=env,
                                    start_new_session=True)
        except OSError as exc:
            raise ReadError(f"{p}: cannot run Gwyddion ({exc})") from exc
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                proc.kill()
            proc.communicate()
            raise ReadError(f"{p}: Gwyddion did not convert the file within {timeout:g} s "
                            "(stopped)") from exc
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            msg = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
            detail = f": {msg[-1][:200]}" if msg else ""
            raise ReadError(f"{p}: Gwyddion could not read it either{detail}")
        try:
            scan = read_gwy(out)
        except ReadError as exc:
            raise ReadError(f"{p}: converted by Gwyddion, but {str(exc).split(': ', 1)[-1]}"
                            ) from exc
    scan.path = p
    scan.format = "gwyddion-converted"
    scan.metadata["read_route"] = f"gwyddion --convert-to-gwy ({exe})"
    return scan
