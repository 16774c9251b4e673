"""Shared pytest fixtures: paths to the sample data and the Gwyddion program.

Path fixtures (test data are files under ``data_samples/``) and the ``slow`` mark of the
end-to-end acquisition modules.
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


#: Test modules that run whole acquisition sessions (virtual instruments behind a real
#: pseudo-terminal, a child process, signals), most of a second or more each: end-to-end tests,
#: marked ``slow`` as a whole so that ``pytest -m "not slow"`` stays a quick check.
END_TO_END_MODULES = frozenset({
    "test_acq_session.py",
    "test_acq_replies.py",
    "test_acq_signals.py",
    "test_acq_supervisor.py",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of :data:`END_TO_END_MODULES` ``slow``."""
    for item in items:
        if item.path.name in END_TO_END_MODULES:
            item.add_marker(pytest.mark.slow)
