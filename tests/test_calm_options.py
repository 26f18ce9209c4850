"""Issue 23 (part B): odd option values, `-q` everywhere, Ctrl-C, and the rough edges of
`tune` a new user hits. Each refusal is one line, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from helpers import run

from stockcast.cli import app


def _commands() -> list[tuple[str, ...]]:
    """Every command path: ("train",), ("models",), ("models", "rm"), ..."""
    root = typer.main.get_command(app)
    out: list[tuple[str, ...]] = []

    def walk(cmd, path: tuple[str, ...]) -> None:
        subs = getattr(cmd, "commands", None)
        if path:
            out.append(path)
        for name, sub in (subs or {}).items():
            walk(sub, (*path, name))

    walk(root, ())
    return out


def test_every_command_takes_quiet() -> None:
    root = typer.main.get_command(app)
    missing = []
    for path in _commands():
        cmd = root
        for name in path:
            cmd = cmd.commands[name]  # type: ignore[attr-defined]
        flags = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if not {"-q", "--quiet"} <= flags:
            missing.append(" ".join(path))
    assert missing == []


def test_quiet_prints_nothing_on_success(sample: Path) -> None:
    for args in (["list"], ["features"], ["info"], ["models"], ["score"], ["init"]):
        res = run(*args, "-q")
        assert res.exit_code == 0, (args, res.output)
        assert res.stdout == "", args


def test_counts_agree_with_their_nouns(sample: Path) -> None:
    res = run("info")
    assert "(0 names)" in res.stdout
    from stockcast.cli.app import counted

    assert counted(1, "model") == "1 model" and counted(2, "name") == "2 names"


@pytest.mark.slow
def test_ctrl_c_during_a_long_epoch_stops_at_once(sample: Path) -> None:
    """SIGINT while `train --lookback 2000` is inside its first epoch (a batch takes seconds
    there): exit 130 with one line, long before the epoch could end (minutes on a CPU)."""
    import contextlib
    import os
    import signal
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "stockcast", "train", "MSFT", "--lookback", "2000"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)  # fmt: skip
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the start line: the command runs, its imports are done
    assert "training, at most" in first, first
    with contextlib.suppress(subprocess.TimeoutExpired):  # into epoch 0's validation or 1
        proc.wait(timeout=8)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # generous: an epoch here takes minutes
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err and err.count("\n") == 1, err
