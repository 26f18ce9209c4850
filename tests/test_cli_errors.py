"""Disk errors at the CLI edge: one line naming the path and the fix, exit 1, no traceback."""

from __future__ import annotations

from pathlib import Path

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
