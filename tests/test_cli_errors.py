"""Disk errors at the CLI edge: one line naming the path and the fix, exit 1, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockcast.cli import app


def test_unwritable_data_directory_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data directory should be")
    out = CliRunner().invoke(app, ["--data-dir", str(blocker / "data"), "init"])
    assert out.exit_code == 1
    assert out.exception is None or isinstance(out.exception, SystemExit)
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.output
    assert lines[0].startswith("error: cannot access") and "--data-dir" in lines[0]
    assert str(blocker) in lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bogus"], "No such command 'bogus'"),
        (["train", "MSFT", "--epochs", "abc"], "Invalid value for '--epochs'"),
        (["fetch", "AAPL", "--start", "2024-13-01"], "Invalid value for '--start'"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(args: list[str], expected: str) -> None:
    """Through the console script's entry point (CliRunner bypasses it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "stockcast", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0] and "--help" in lines[0]
    assert proc.stdout == ""
