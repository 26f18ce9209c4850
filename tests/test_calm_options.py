"""Issue 23 (part B): odd option values, `-q` everywhere, Ctrl-C, and the rough edges of
`tune` a new user hits. Each refusal is one line, before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from helpers import run, run_in

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
