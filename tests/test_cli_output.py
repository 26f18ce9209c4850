"""Output for pipes and cron mail: wide enough that tables are not cut, no colour codes, no
hard wraps, no trailing spaces; tables that never cut a number at any width from 60 columns."""

from __future__ import annotations

import io
import json
import re
import sys
from importlib import import_module
from pathlib import Path

import pytest
from helpers import TINY, run_in
from rich.console import Console
from rich.table import Table

from stockcast.cli.tables import split_table

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


def test_piped_text_is_not_wrapped_and_has_no_trailing_spaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    con = cli_app.stdout()
    sentence = "word " * 30
    con.print(sentence.strip())
    table = Table("Name", "Verdict")
    table.add_row("MSFT", "x")
    table.add_row("A", "a much longer verdict")
    con.print(table)
    out = sys.stdout.getvalue()
    assert sentence.strip() + "\n" in out  # one line, not hard-wrapped at 60
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_a_wide_table_is_split_into_parts_that_fit() -> None:
    heads = [f"{lvl}% {side}" for lvl in (50, 80, 90, 95) for side in ("low", "high")]
    table = Table("Date", "h", *heads)
    table.add_row("2017-11-13", "1", *(f"{1000 + i:,.2f}" for i in range(8)))
    con = Console(width=60, file=io.StringIO(), color_system=None)
    parts = split_table(con, table, keys=2, groups=[2] * 4)
    assert len(parts) > 1
    for part in parts:
        con.print(part)
        assert [c.header for c in part.columns][:2] == ["Date", "h"]
    text = con.file.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 60
    for i in range(8):
        assert f"{1000 + i:,.2f}" in text and f"{[50, 80, 90, 95][i // 2]}% " in text


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample stored and a tiny model trained on it."""
    root = tmp_path_factory.mktemp("output")
    assert run_in(root, "fetch", "--sample").exit_code == 0
    res = run_in(root, "train", "MSFT", *TINY, "--ensemble", "1")
    assert res.exit_code == 0, res.output
    return root


def _price(x: float) -> str:
    return f"{x:,.2f}"


@pytest.mark.slow
@pytest.mark.parametrize("width", [60, 80, 120])
def test_predict_table_shows_every_number_whole(
    home: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    levels = "0.5,0.8,0.9,0.95,0.999"
    res = run_in(home, "predict", "MSFT", "--level", levels, "--json")
    assert res.exit_code == 0, res.output
    [fc] = json.loads(res.stdout)
    monkeypatch.setenv("COLUMNS", str(width))
    table = run_in(home, "predict", "MSFT", "--level", levels)
    assert table.exit_code == 0, table.output
    text = table.stdout
    assert "…" not in text
    for step in fc["forecasts"]:
        assert step["date"] in text and _price(step["close"]) in text
        assert f"{step['change_pct']:+.2f}%" in text
        for band in step["intervals"]:
            assert _price(band["lower"]) in text and _price(band["upper"]) in text
    for tag in ("50", "80", "90", "95", "99.9"):
        assert f"{tag}% low" in text and f"{tag}% high" in text
    assert "100%" not in text
    table_lines = [line for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
    assert table_lines and max(len(line) for line in table_lines) <= width
    assert not any(line != line.rstrip() for line in text.splitlines())


@pytest.mark.slow
def test_evaluate_and_train_tables_are_whole_at_80_columns(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    ev = run_in(home, "evaluate", "MSFT")
    assert ev.exit_code == 0, ev.output
    assert "…" not in ev.stdout and "Verdict" in ev.stdout and "vs GARCH (95% CI)" in ev.stdout
    [obj] = json.loads(run_in(home, "evaluate", "MSFT", "--json").stdout)
    for h in obj["horizons"]:
        assert f"{h['mae']:.4f}" in ev.stdout and f"{h['rmse']:.4f}" in ev.stdout
    train = run_in(home, "train", "MSFT", *[a for a in TINY if a != "--quiet"], "--ensemble", "1")
    assert train.exit_code == 0, train.output
    assert "…" not in train.stdout and "Win/s" in train.stdout
