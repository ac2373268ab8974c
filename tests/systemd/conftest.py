"""systemd/install.sh into a folder (DESTDIR), once for the session: the units, accounts and layout under test."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

INSTALL = REPO / "systemd" / "install.sh"


def run_install(destdir: Path, wheel: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """install.sh into `destdir` from `wheel`; pip only installs the wheel itself (no index: tests are offline)."""
    full = {**os.environ, "DESTDIR": str(destdir), "WHEEL": str(wheel), "PIP_INSTALL_ARGS": "--no-deps --no-index",
            **env}
    return subprocess.run(["sh", str(INSTALL)], env=full, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory, edge_wheel: Path) -> Path:
    destdir = tmp_path_factory.mktemp("destdir")
    proc = run_install(destdir, edge_wheel)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return destdir
