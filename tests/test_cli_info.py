"""`stockcast info`, "nothing stored" errors that say where they looked, and global options
given after the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.cli.app import hoist_global_options


def test_info_reports_the_directory_and_how_it_was_chosen(stockcast_home: Path) -> None:
    facts = json.loads(CliRunner().invoke(app, ["info", "--json"]).stdout)
    assert facts["data_dir"] == str(stockcast_home.resolve())
    assert "STOCKCAST_HOME" in facts["data_dir_from"]
    assert facts["symbols"] == 0 and facts["models"] == 0 and facts["config_exists"] is False
    assert facts["devices"][0] == "cpu" and facts["versions"]["torch"]
    other = stockcast_home / "other"
    facts = json.loads(CliRunner().invoke(app, ["--data-dir", str(other), "info", "--json"]).stdout)
    assert (
        facts["data_dir"] == str(other.resolve())
        and facts["data_dir_from"] == "the --data-dir option"
    )


def test_nothing_stored_errors_name_the_directory_and_the_way_out(stockcast_home: Path) -> None:
    for args in (["predict", "MSFT"], ["evaluate", "MSFT"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1
        line = res.stderr.strip()
        assert "\n" not in line
        assert str(stockcast_home) in line and "--data-dir" in line and "STOCKCAST_HOME" in line


def test_global_options_after_the_command_are_moved_in_front() -> None:
    assert hoist_global_options(["list", "--data-dir", "X"]) == ["--data-dir", "X", "list"]
    assert hoist_global_options(["predict", "A", "--data-dir=Y", "--json"]) == [
        "--data-dir=Y",
        "predict",
        "A",
        "--json",
    ]
    assert hoist_global_options(["--data-dir", "X", "list"]) == ["--data-dir", "X", "list"]


def test_data_dir_after_the_command_works_at_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    out = subprocess.run(
        [sys.executable, "-m", "stockcast", "info", "--json", "--data-dir", str(home)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["data_dir"] == str(home.resolve())


def test_library_warnings_stay_out_of_the_output(tmp_path: Path) -> None:
    code = (
        "import sys, warnings; sys.argv = ['stockcast', 'info', '--json']\n"
        "from stockcast.cli import main, app\n"
        "import stockcast.cli.info as i\n"
        "orig = i.gather\n"
        "def noisy():\n"
        "    warnings.warn('a library deprecation', FutureWarning)\n"
        "    return orig()\n"
        "i.gather = noisy\n"
        "main()\n"
    )
    env = {**os.environ, "STOCKCAST_HOME": str(tmp_path)}
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and "deprecation" not in quiet.stderr
    env["STOCKCAST_WARNINGS"] = "1"
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert "a library deprecation" in loud.stderr
