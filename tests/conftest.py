"""Shared pytest fixtures: paths to the sample data and the Gwyddion program.

Only path fixtures live here; test data are files under ``data_samples/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def realdata_dir() -> Path:
    """``data_samples/real``: real instrument files (see ``data_samples/README.md``)."""
    d = REPO_ROOT / "data_samples" / "real"
    if not d.is_dir():
        pytest.skip(f"real sample data not found at {d}")
    return d


@pytest.fixture(scope="session")
def gwyddion() -> str:
    """Path of the ``gwyddion`` executable; skips the test when Gwyddion is not installed."""
    exe = shutil.which("gwyddion")
    if exe is None:
        pytest.skip("Gwyddion is not installed (no 'gwyddion' on PATH): cross-check skipped; "
                    "install it with 'apt-get install gwyddion'")
    return exe
