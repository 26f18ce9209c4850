"""Output for pipes and cron mail: wide enough that tables are not cut, no colour codes."""

from __future__ import annotations

import io
import sys
from importlib import import_module

import pytest

# the module, not the Typer object that `stockcast.cli` exports under the same name
cli_app = import_module("stockcast.cli.app")


def test_piped_stdout_is_wide_and_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    con = cli_app.stdout()
    assert con.width == cli_app.PIPE_WIDTH
    con.print("[bold]x[/]")
    assert sys.stdout.getvalue() == "x\n"


def test_columns_wins_over_the_pipe_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli_app.stdout().width == 90
