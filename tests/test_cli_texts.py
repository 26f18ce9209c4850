"""What the CLI says: valid ranges, levels with their digits, hints that name a real command,
exit codes of typos, "did you mean", help without metavars on flags, JSON shapes, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import TINY, nyse_prices, run, run_in

from stockcast.data.store import PriceStore
from stockcast.errors import DataError
from stockcast.forecasting import intervals
from stockcast.schedule import steps


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample stored and a tiny model trained on it."""
    root = tmp_path_factory.mktemp("texts")
    assert run_in(root, "fetch", "--sample").exit_code == 0
    res = run_in(root, "train", "MSFT", *TINY, "--ensemble", "1")
    assert res.exit_code == 0, res.output
    return root


def one_line(res, code: int, *texts: str) -> None:
    assert res.exit_code == code, res.output
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    for text in texts:
        assert text in res.stderr, res.stderr


# ranges, levels, dates ------------------------------------------------------------------------
def test_horizon_zero_names_the_valid_range() -> None:
    res = run("predict", "MSFT", "--horizon", "0")
    one_line(res, 2, "--horizon 0", "give 1 up to the model's horizon")
    assert "train with" not in res.stderr


def test_a_level_keeps_its_digits_in_messages() -> None:
    y = np.zeros((20, 1))
    with pytest.raises(DataError, match=r"a 99\.9% interval needs") as err:
        intervals.calibrate(y, y, np.full(20, 0.01), [0.999])
    assert "100%" not in str(err.value)


@pytest.mark.parametrize("date", ["01/02/2017", "2017-02-30", "2017.01.02"])
def test_test_start_must_be_iso(date: str) -> None:
    one_line(run("train", "MSFT", "--test-start", date), 2, "YYYY-MM-DD", date)


# hints that name a command that exists ---------------------------------------------------------
def test_stale_hint_of_a_csv_symbol_names_its_file(stockcast_home: Path) -> None:
    from stockcast.cli.predict import _refresh

    PriceStore(stockcast_home).write("SYN", nyse_prices(), source="csv", source_ref="/x/syn.csv")
    assert _refresh(stockcast_home, "SYN") == "stockcast fetch SYN --csv /x/syn.csv"
    PriceStore(stockcast_home).write("YHO", nyse_prices(), source="yahoo")
    assert _refresh(stockcast_home, "YHO") == "stockcast fetch YHO"


def test_run_with_a_vanished_csv_says_so_in_its_own_words(stockcast_home: Path) -> None:
    gone = stockcast_home / "gone.csv"
    PriceStore(stockcast_home).write("SYN", nyse_prices(), source="csv", source_ref=str(gone))
    with pytest.raises(DataError) as err:
        steps.refresh(stockcast_home, "SYN")
    assert f"imported from {gone}, which is no longer there" in str(err.value)
    assert "given to --csv" not in str(err.value)


# exit codes of typos, and "did you mean" -------------------------------------------------------
def test_score_of_a_symbol_never_stored_exits_2(sample: Path) -> None:
    one_line(run("score", "NOPE"), 2, "nothing stored or logged for NOPE")
    one_line(run("score", "MSFX"), 2, "did you mean MSFT?")


def test_no_prices_suggests_a_stored_symbol(sample: Path) -> None:
    one_line(run("train", "MSFX", "-q"), 1, "no prices stored for MSFX", "did you mean MSFT?")
    res = run("train", "ZZZZ", "-q")
    assert res.exit_code == 1 and "did you mean" not in res.stderr


@pytest.mark.slow
def test_model_typos(home: Path) -> None:
    one_line(run_in(home, "evaluate", "MSFT", "--model", "nope"), 2, "--model nope")
    one_line(run_in(home, "predict", "MSFT", "--model", "nope"), 2, "`stockcast models`")
    one_line(run_in(home, "predict", "MSFX"), 1, "no prices stored for MSFX",
             "did you mean MSFT?")  # fmt: skip  # neither prices nor a model: fetch comes first


# help ----------------------------------------------------------------------------------------
COMMANDS = ["fetch", "list", "features", "train", "evaluate", "backtest", "predict", "init",
            "run", "score", "info", "models", "models show", "models rm",
            "models prune"]  # fmt: skip


def test_top_level_help_has_an_example() -> None:
    res = run("--help")
    assert res.exit_code == 0 and "Example: stockcast fetch --sample" in res.stdout
    assert "<bool>" not in res.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_an_example_and_no_bool_metavar(command: str) -> None:
    res = run(*command.split(), "--help")
    assert res.exit_code == 0, res.output
    assert "Example" in res.stdout and f"stockcast {command.split()[0]}" in res.stdout
    assert "<bool>" not in res.stdout


# JSON shapes ---------------------------------------------------------------------------------
def test_predict_json_of_one_failing_symbol_is_an_array() -> None:
    res = run("predict", "NOPE", "--json")
    assert res.exit_code == 1
    [obj] = json.loads(res.stdout)
    assert obj["ticker"] == "NOPE" and "no prices stored for NOPE" in obj["error"]


def test_train_json_of_one_failing_symbol_is_an_array() -> None:
    res = run("train", "NOPE", "--json", "-q")
    assert res.exit_code == 1
    [obj] = json.loads(res.stdout)
    assert set(obj) == {"ticker", "error"} and "no prices stored for NOPE" in obj["error"]


@pytest.mark.slow
def test_evaluate_takes_several_symbols(home: Path) -> None:
    res = run_in(home, "evaluate", "MSFT", "NOPE", "--json")
    assert res.exit_code == 3
    ok, bad = json.loads(res.stdout)
    assert ok["ticker"] == "MSFT" and ok["horizons"] and bad["ticker"] == "NOPE" and bad["error"]
    table = run_in(home, "evaluate", "MSFT", "NOPE")
    assert table.exit_code == 3 and "Naive forecasts" in table.stdout
    assert "NOPE: no model for NOPE" in table.stderr


# outputs and quiet ---------------------------------------------------------------------------
@pytest.mark.slow
def test_plot_format_folder_and_confirmation(home: Path, tmp_path: Path) -> None:
    one_line(run_in(home, "predict", "MSFT", "--plot", str(tmp_path / "c.gif")), 2, ".svg")
    missing = tmp_path / "nope" / "c.png"
    one_line(run_in(home, "predict", "MSFT", "--plot", str(missing)), 2,
             f"the folder {missing.parent} does not exist")  # fmt: skip
    assert not missing.parent.exists()
    svg, pdf, csv = tmp_path / "c.svg", tmp_path / "c.pdf", tmp_path / "c.csv"
    for path in (svg, pdf):
        res = run_in(home, "predict", "MSFT", "-q", "--plot", str(path), "--csv", str(csv))
        assert res.exit_code == 0, res.output
        assert f"wrote {path}" in res.stderr and f"wrote {csv}" in res.stderr
    assert svg.read_text().lstrip().startswith("<?xml") and pdf.read_bytes()[:4] == b"%PDF"


def test_chart_has_verdict_persistence_and_stale_mark() -> None:
    import datetime as dt

    from matplotlib import rc_context

    from stockcast.cli.plot import Band, render_chart

    days = [dt.date(2017, 1, 2) + dt.timedelta(days=i) for i in range(30)]
    with rc_context({"svg.fonttype": "none"}):  # text as text, to search it
        svg = render_chart(
            fmt="svg", symbol="TEST", model_id="m", history_dates=days,
            history_close=[100.0 + i for i in range(30)], dates=[dt.date(2017, 2, 1)],
            close=[130.0], bands=[Band(0.999, [125.0], [135.0])],
            title_note="h=1: indistinguishable from drift", stale_since=days[-1],
        ).decode()  # fmt: skip
    assert "indistinguishable from drift" in svg and "persistence (last close)" in svg
    assert "stale data: last session 2017-01-31" in svg and "99.9% interval" in svg


@pytest.mark.slow
def test_train_quiet_prints_nothing(sample: Path) -> None:
    res = run("train", "MSFT", *TINY, "--ensemble", "1")
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""


@pytest.mark.slow
def test_run_prints_its_summary_once(home: Path) -> None:
    (home / "stockcast.toml").write_text('symbols = ["MSFT"]\n')
    res = run_in(home, "run")
    assert res.exit_code == 5, res.output  # the sample is old: stale
    assert res.output.count("0 failed") == 1, res.output
