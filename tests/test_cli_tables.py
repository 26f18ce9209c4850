"""`stockcast models`, `list`, `score` and `run` cut nothing at 60, 80 and 120 columns nor in a
pipe: no "…", no line wider than the console, every id, date, number and symbol whole (split
into parts that repeat the key columns, or stacked); stderr wraps between words on a terminal
and stays one line elsewhere."""

from __future__ import annotations

import io
import logging
import re
import shutil
import sys
from importlib import import_module
from pathlib import Path

import pytest
from helpers import run
from rich.console import Console
from rich.table import Table

from stockcast.cli.tables import print_table, split_table
from stockcast.models.catalog import Entry
from stockcast.schedule.logsetup import _terminal_width, _TerminalFormatter
from stockcast.schedule.runner import RunReport, SymbolResult
from stockcast.schedule.score import HorizonScore

cli_app = import_module("stockcast.cli.app")
cli_schedule = import_module("stockcast.cli.schedule")
catalog = import_module("stockcast.models.catalog")

WIDTHS = [60, 80, 120, None]  # None: a pipe without COLUMNS (PIPE_WIDTH)
FIXTURE = Path(__file__).parent / "fixtures" / "legacy_model_v1" / "MSFT"
TEN = ("AAPL", "AMZN", "GOOGL", "META", "MSFT", "NVDA", "ORCL", "TSLA", "BRK-B", "JPM")


def _columns(monkeypatch: pytest.MonkeyPatch, width: int | None) -> int:
    if width is None:
        monkeypatch.delenv("COLUMNS", raising=False)
        return cli_app.PIPE_WIDTH
    monkeypatch.setenv("COLUMNS", str(width))
    return width


def _whole(text: str, width: int, values: list[str], prose: tuple[str, ...] = ()) -> None:
    """Nothing cut: no ellipsis, no table line wider than ``width`` (sentences starting with
    ``prose`` are not wrapped in a pipe), every value on one line."""
    assert "…" not in text
    table = [line for line in text.splitlines() if not line.startswith(prose)]
    assert max(len(line) for line in table) <= width, text
    for value in values:
        assert value in text, (value, text)


def _entry(name: str, mid: str, **kw) -> Entry:
    base = dict(name=name, id=mid, symbols=(name,), arch="lstm", created=f"{mid[:4]}-{mid[4:6]}-"
                f"{mid[6:8]}T10:00:00", data_end="2017-11-10", trained_through="2017-11-10",
                epochs=12, members=5, interrupted=False, skill_vs_best=-0.0123, default=False,
                size_bytes=300_000)  # fmt: skip
    return Entry(**{**base, **kw})


ENTRIES = [
    _entry("MSFT", "20261129T160758-859215"),
    _entry("MSFT", "20261130T101010-abcdef", default=True, interrupted=True, epochs=7),
    _entry("AAPL", "20261201T000000-000001", arch="transformer", skill_vs_best=None),
    _entry("AAPL", "20261201T000000-000002", error="manifest.json is unreadable"),
    _entry(
        "tech10",
        "20261202T014324-150296",
        symbols=TEN,
        default=True,
        data_end="2026-12-04",
        display_name="Tech10",
        skill_vs_best=0.0042,
    ),
]


@pytest.mark.parametrize("width", WIDTHS)
def test_models_cuts_nothing(width: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    cols = _columns(monkeypatch, width)
    monkeypatch.setattr(catalog, "entries", lambda root: list(ENTRIES))
    res = run("models")
    assert res.exit_code == 0, res.output
    text = res.stdout
    values = [e.id for e in ENTRIES] + ["2017-11-10", "2026-12-04", "transformer"]
    values += ["-1.23%", "+0.42%", "n/a", "damaged", "7!", "Tech10", *TEN, "* = default"]
    _whole(text, cols, values, prose=("5 models of 3 names", "damaged =", "! =", "vs best h1 ="))
    for e in ENTRIES:  # the default mark stays on its model's lines, in every part
        marked = [line for line in text.splitlines() if e.id in line]
        assert marked and all(line.lstrip().startswith("*") == e.default for line in marked)
    assert "! = training was interrupted" in " ".join(text.split())
    # the skill column says what it is measured against (evaluate's "Skill" is vs persistence)
    assert "vs best h1 = test skill at h=1 against the naive forecast best" in " ".join(
        text.split()
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_list_cuts_nothing(
    width: int | None, sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = next(p.name for p in FIXTURE.iterdir() if p.is_dir())
    shutil.copytree(FIXTURE / mid, sample / "models" / "MSFT" / mid)
    cols = _columns(monkeypatch, width)
    res = run("list")
    assert res.exit_code == 0, res.output
    _whole(res.stdout, cols, ["MSFT", "7983", "1986-03-13", "2017-11-10", "sample", mid])
    assert "Default model" in res.stdout and "Updated (UTC)" in res.stdout


def _run_report() -> RunReport:
    error = ("cannot reach Yahoo Finance: read timed out after 30 s; check your connection, or "
             "import a CSV file with `stockcast fetch BRK-B --csv FILE`")  # fmt: skip
    return RunReport(
        results=[
            SymbolResult(
                "MSFT",
                fetched=True,
                added=3,
                retrained=True,
                model="20261129T160758-859215",
                as_of="2017-11-10",
                forecasts=5,
            ),
            SymbolResult(
                "BRK-B",
                stale=True,
                age_sessions=12,
                model="20261130T101010-abcdef",
                as_of="2017-10-25",
                forecasts=5,
                error=error,
            ),
            SymbolResult(
                "KO",
                fetched=True,
                added=1,
                stale=True,
                age_sessions=4,
                model="20261201T000000-000001",
                as_of="2017-11-03",
                forecasts=5,
            ),
        ],
        seconds=12.3,
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_run_summary_cuts_nothing(width: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    cols = _columns(monkeypatch, width)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    report = _run_report()
    cli_schedule._print_run(report)
    text = sys.stdout.getvalue()
    values = [r.model for r in report.results] + [r.as_of for r in report.results]
    summary = "2 ok (1 stale: forecast from old or unrefreshed prices), 1 failed in 12.3 s"
    _whole(text, cols, [*values, "Status", "+3", "+1", "failed", summary], prose=("2 ok",))
    flat = " ".join(text.split())  # the status wraps between words, never inside one
    assert report.results[1].error in flat and "12 sessions behind" in flat
    assert "stale, 4 sessions behind" in flat and "ok, retrained" in flat


@pytest.mark.parametrize("width", WIDTHS)
def test_score_table_cuts_nothing(width: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    cols = _columns(monkeypatch, width)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    levels = {"0.5": 0.48, "0.8": 0.8125, "0.9": 0.9, "0.95": 0.95, "0.999": 1.0}
    scores = [HorizonScore(h, 1234 - h, h, 1.2345 * h, 1.3456 * h, levels) for h in (1, 2, 10)]
    cli_schedule._print_scores("BRK-B", scores, None)
    text = sys.stdout.getvalue()
    values = [f"{x:.4g}" for s in scores for x in (s.mae, s.persistence_mae)]
    values += ["1233", "1224", "+8.3%", "81%", "100%"]
    heads = [f"{t}% coverage" for t in ("50", "80", "90", "95", "99.9")]
    _whole(text, cols, [*values, *heads], prose=("Few outcomes",))
    assert "BRK-B: logged forecasts" in " ".join(text.split())


def test_a_table_too_wide_for_its_keys_is_stacked() -> None:
    table = Table("Model id", "Created", "Data to", title="Models", caption="* = default")
    table.add_row("20261129T160758-859215", "2026-11-29", "2017-11-10")
    table.add_row("20261130T101010-abcdef", "2026-11-30", "2018-01-02")
    con = Console(width=30, file=io.StringIO(), color_system=None)
    parts = split_table(con, table, keys=1)
    assert len(parts) == 1 and parts[0].title == "Models" and parts[0].caption == "* = default"
    print_table(con, table)
    text = con.file.getvalue()
    _whole(text, 30, ["20261129T160758-859215", "2026-11-30", "2018-01-02", "* = default"])
    assert [line.split()[0] for line in text.splitlines() if line.strip()][1:6] == [
        "Model", "20261129T160758-859215", "Created", "2026-11-29", "Data"]  # fmt: skip


def test_free_text_wraps_between_words_beside_whole_numbers() -> None:
    table = Table("Symbol", "Model", box=None)
    table.add_column("Status", overflow="fold")
    table.add_row("MSFT", "20261129T160758-859215", "failed: " + "a reason in words " * 6)
    con = Console(width=60, file=io.StringIO(), color_system=None)
    assert len(split_table(con, table)) == 1  # fits: the status wraps
    print_table(con, table)
    text = con.file.getvalue()
    _whole(text, 60, ["20261129T160758-859215"])
    assert ("failed: " + "a reason in words " * 6).strip() in " ".join(text.split())
    assert len(text.strip().splitlines()) > 3


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stderr_wraps_on_a_terminal_and_not_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    message = "the stored file /data/prices/MSFT.parquet is unreadable; " + "word " * 20
    monkeypatch.setenv("COLUMNS", "50")
    monkeypatch.setattr(sys, "stderr", _Tty())
    cli_app.warn(message)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", sys.stderr.getvalue())  # the colour of "warning:"
    lines = [line.rstrip() for line in plain.splitlines()]
    assert len(lines) > 2 and max(len(line) for line in lines) <= 50
    assert all(line.startswith(" " * len("warning: ")) for line in lines[1:])
    assert " ".join(" ".join(lines).split()).endswith(" ".join(message.split()))
    assert "/data/prices/MSFT.parquet" in plain  # a path is never split

    monkeypatch.setattr(sys, "stderr", io.StringIO())  # cron, a pipe: one line
    cli_app.error_line(message)
    assert sys.stderr.getvalue() == f"error: {message}\n"


def test_run_log_lines_wrap_on_a_terminal_only() -> None:
    text = "MSFT: stale prices: the last stored session is 12 sessions behind " * 2
    record = logging.LogRecord("stockcast", logging.WARNING, "", 0, text.strip(), None, None)
    wrapped = _TerminalFormatter(40).format(record).splitlines()
    assert len(wrapped) > 2 and all(len(line) <= 40 for line in wrapped)
    assert wrapped[0].startswith("warning: ") and all(w.startswith(" " * 9) for w in wrapped[1:])
    assert _TerminalFormatter(None).format(record) == "warning: " + text.strip()
    assert _terminal_width(io.StringIO()) is None and _terminal_width(_Tty()) is not None


def test_naive_errors_have_the_decimals_of_the_model_table() -> None:
    """MAE and RMSE with 4 decimals, MAPE with 3 in both evaluation tables (not "0.98 vs 0.982")."""
    from stockcast.cli.report import errors_text

    assert errors_text({"mae": 0.98591, "rmse": 1.25, "mape": 0.98212}) == "0.9859/1.2500/0.982"


def test_a_stale_symbol_is_not_also_called_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A symbol forecast from stored prices (nothing refreshed, e.g. the sample) reads "stale",
    never "failed" in one column and "ok" in the summary (issue 23)."""
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    row = SymbolResult("MSFT", stale=True, age_sessions=9, model="20261129T160758-859215",
                       as_of="2017-11-10", forecasts=5)  # fmt: skip
    cli_schedule._print_run(RunReport(results=[row], seconds=1.0))
    text = sys.stdout.getvalue()
    assert "failed" not in text.replace("0 failed", ""), text
    assert "stale, 9 sessions behind" in " ".join(text.split())
