"""Issue 23 (part B): odd option values, `-q` everywhere, Ctrl-C, and the rough edges of
`tune` a new user hits. Each refusal is one line, before any work starts."""

from __future__ import annotations

import os
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


# option values checked before work starts ----------------------------------------------------
def one_line(res, code: int, *parts: str) -> None:
    assert res.exit_code == code, res.output
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.output, res.stderr
    for part in parts:
        assert part in res.stderr, res.stderr


def test_a_lookback_that_leaves_too_few_windows_is_refused_with_the_longest_that_fits(
    sample: Path,
) -> None:
    one_line(run("train", "MSFT", "--lookback", "5000"), 2, "--lookback 5000", "or less")
    one_line(run("tune", "MSFT", "--lookback", "5000"), 2, "lookback 5000", "or less")
    assert not (sample / "models").exists() and not (sample / "tune").exists()


def test_architecture_settings_and_size_are_checked_against_the_machine(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.training import preflight

    one_line(run("train", "MSFT", "--arch", "transformer", "--hidden", "3"), 2,
             "--hidden 3", "multiple of 4")  # fmt: skip
    monkeypatch.setattr(preflight, "free_bytes", lambda device: 8 * preflight.GiB)
    one_line(run("train", "MSFT", "--hidden", "4096", "--layers", "16"), 2,
             "GiB to train", "8.0 GiB is free", "lower --hidden")  # fmt: skip
    one_line(run("tune", "MSFT", "--jobs", "500"), 2, "--jobs 500", "cores")


def test_the_parameter_estimate_is_close_for_every_architecture() -> None:
    from stockcast import models
    from stockcast.options import ARCHS
    from stockcast.training import preflight
    from stockcast.training.job import configs_from_options

    for arch in ARCHS:
        for hidden, layers in ((16, 1), (64, 2)):
            _, cfg, _, _ = configs_from_options({"arch": arch, "hidden": hidden, "layers": layers})
            real = sum(p.numel() for p in models.build(cfg).parameters())
            assert 0.5 * real <= preflight.parameters(cfg) <= 2 * real, (arch, hidden, layers)


def test_a_symbol_too_short_to_tune_is_refused_before_any_trial(stockcast_home: Path) -> None:
    from helpers import synthetic_prices

    from stockcast.data.store import PriceStore

    PriceStore(stockcast_home).write("TINY", synthetic_prices(30), source="csv")
    one_line(run("tune", "TINY"), 2, "TINY is too short to tune")
    assert not (stockcast_home / "tune").exists()  # no database left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_data_directory_is_found_before_training(sample: Path) -> None:
    sample.chmod(0o555)
    try:
        res = run("train", "MSFT")
    finally:
        sample.chmod(0o755)
    one_line(res, 1, "is not writable", "--data-dir")
