"""`stockcast models`: list, show, rm, prune (never the default), with --json."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockcast.cli import app

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_model_v1" / "MSFT"
IDS = ["20240101T000000-aaaaaa", "20240102T000000-bbbbbb", "20240103T000000-cccccc"]


def run(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def three_models(stockcast_home: Path) -> Path:
    """Three copies of a saved model under models/MSFT/ (oldest first)."""
    src = next(p for p in FIXTURE.iterdir() if p.is_dir())
    for mid in IDS:
        shutil.copytree(src, stockcast_home / "models" / "MSFT" / mid)
    return stockcast_home


def test_models_lists_every_model_and_marks_the_default(three_models: Path) -> None:
    rows = json.loads(run("models", "--json").stdout)
    assert [r["id"] for r in rows] == IDS
    assert [r["default"] for r in rows] == [False, False, True]
    assert all(r["symbols"] == ["MSFT"] and r["arch"] == "lstm" for r in rows)
    assert all(r["members"] == 1 and r["size_bytes"] > 0 for r in rows)
    text = run("models").stdout
    assert all(mid in text for mid in IDS) and "* = default" in text


def test_models_show_accepts_a_unique_prefix(three_models: Path) -> None:
    manifest = json.loads(run("models", "show", IDS[0][:17], "--json").stdout)
    assert manifest["data_config"]["lookback"] == 20
    res = run("models", "show", "2024010")
    assert res.exit_code == 2 and "matches 3 models" in res.stderr
    res = run("models", "show", "nope")
    assert res.exit_code == 2 and "`stockcast models` lists the ids" in res.stderr


def test_models_rm_removes_one_folder(three_models: Path) -> None:
    res = run("models", "rm", IDS[1], "--json")
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"removed": [{"name": "MSFT", "id": IDS[1]}]}
    assert sorted(p.name for p in (three_models / "models" / "MSFT").iterdir()) == [IDS[0], IDS[2]]


def test_prune_keeps_the_newest_and_never_the_default(three_models: Path) -> None:
    res = run("models", "prune", "MSFT", "--keep", "1", "--json")
    removed = json.loads(res.stdout)["removed"]
    assert removed == [{"name": "MSFT", "id": i, "damaged": False} for i in IDS[:2]]
    assert [p.name for p in (three_models / "models" / "MSFT").iterdir()] == [IDS[2]]
    assert run("models", "prune", "MSFT", "--keep", "0").exit_code == 2


def test_prune_keeps_the_default_even_when_it_is_not_the_newest(
    three_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stockcast.models import catalog

    monkeypatch.setattr(catalog, "default_id", lambda root, name: IDS[0])
    assert catalog.prune(three_models, "MSFT", keep=1) == [("MSFT", IDS[1], False)]
    assert sorted(p.name for p in (three_models / "models" / "MSFT").iterdir()) == [IDS[0], IDS[2]]


def test_models_with_nothing_saved_names_the_directory(stockcast_home: Path) -> None:
    res = run("models")
    assert (
        res.exit_code == 0 and str(stockcast_home) in res.stdout and "stockcast train" in res.stdout
    )
    assert json.loads(run("models", "--json").stdout) == []


def test_list_shows_each_symbols_default_model(three_models: Path) -> None:
    from stockcast.data.sources.sample import load_sample
    from stockcast.data.store import PriceStore

    PriceStore(three_models).write("MSFT", load_sample(), source="sample")
    (row,) = json.loads(run("list", "--json").stdout)
    assert row["ticker"] == "MSFT" and row["default_model"] == IDS[-1]
    assert IDS[-1] in CliRunner().invoke(app, ["list"], env={"COLUMNS": "200"}).stdout


def test_removing_the_default_model_needs_yes(three_models: Path) -> None:
    res = run("models", "rm", "msft")  # a name: its default model; no terminal to ask
    assert res.exit_code == 2 and "--yes" in res.stderr and len(res.stderr.splitlines()) == 1
    assert len(list((three_models / "models" / "MSFT").iterdir())) == 3
    res = run("models", "rm", f"MSFT:{IDS[2]}", "--yes", "--json")
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout) == {"removed": [{"name": "MSFT", "id": IDS[2]}]}
    assert sorted(p.name for p in (three_models / "models" / "MSFT").iterdir()) == IDS[:2]
    assert not any((three_models / "models" / ".trash").iterdir())  # emptied after the rename


def test_prune_without_a_name_prunes_every_name(three_models: Path) -> None:
    src = three_models / "models" / "MSFT"
    shutil.copytree(src, three_models / "models" / "AAPL")
    res = run("models", "prune", "--keep", "1", "--json")
    assert res.exit_code == 0, res.stderr
    removed = {(r["name"], r["id"]) for r in json.loads(res.stdout)["removed"]}
    assert removed == {(n, i) for n in ("AAPL", "MSFT") for i in IDS[:2]}


def _rm_on_a_terminal(home: Path, ref: str, answer: str) -> tuple[int, str]:
    """`stockcast models rm REF` with a pseudo-terminal as stdin, stdout and stderr, answering
    ``answer`` to its question: (exit code, everything it wrote)."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "stockcast", "--data-dir", str(home), "models", "rm", ref],
        stdin=secondary, stdout=secondary, stderr=secondary, close_fds=True,
    )  # fmt: skip
    os.close(secondary)
    out, answered, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the child closed the terminal (Linux raises EIO)
                break
            if not chunk:
                break
            out += chunk
        if not answered and b"remove it?" in out:
            os.write(primary, answer.encode() + b"\n")
            answered = True
        if proc.poll() is not None and not ready:
            break
    os.close(primary)
    code = proc.wait(timeout=30)
    assert answered, out.decode(errors="replace")
    return code, re.sub(r"\x1b\[[0-9;]*m", "", out.decode(errors="replace"))  # no colours


def test_removing_the_default_model_on_a_terminal_asks_first(three_models: Path) -> None:
    """On a terminal `models rm` of a default model asks; no keeps every model, yes removes it."""
    folder = three_models / "models" / "MSFT"
    code, out = _rm_on_a_terminal(three_models, "MSFT", "n")
    assert f"model {IDS[2]} is the default model of MSFT" in out, out
    assert code == 1 and "error: aborted" in out and "Traceback" not in out, out
    assert sorted(p.name for p in folder.iterdir()) == IDS
    code, out = _rm_on_a_terminal(three_models, "MSFT", "y")
    assert code == 0 and f"removed model {IDS[2]} of MSFT" in out, out
    assert sorted(p.name for p in folder.iterdir()) == IDS[:2]
