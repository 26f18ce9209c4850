"""Shared fixtures: every test gets its own empty data directory; none touches a real data/."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run


@pytest.fixture(autouse=True)
def stockcast_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point STOCKCAST_HOME at a fresh temporary folder for each test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("STOCKCAST_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "120")
    return home


@pytest.fixture
def sample(stockcast_home: Path) -> Path:
    """The bundled MSFT sample stored in this test's data directory (`stockcast fetch --sample`)."""
    res = run("fetch", "--sample")
    assert res.exit_code == 0, res.output
    return stockcast_home
