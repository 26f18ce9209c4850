"""Dated forecasts from a saved model: dates, bounds, result structure, clear errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import AFTER_NEW_YEAR, TINY, nyse_prices, run_in

from stockcast.data.store import PriceStore
from stockcast.errors import DataError, ModelError, UsageError
from stockcast.forecasting import forecast as fcast
from stockcast.models.manifest import Manifest

D = dt.date

LEGACY_MODEL = Path(__file__).parent / "fixtures" / "legacy_model_v1" / "MSFT"


def store_and_train(root: Path, symbol: str, prices: pd.DataFrame, *extra: str) -> None:
    PriceStore(root).write(symbol, prices, source="csv")
    res = run_in(root, "train", symbol, *TINY, *extra)
    assert res.exit_code == 0, res.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forecast")
    store_and_train(root, "SYN", nyse_prices())
    return root


@pytest.mark.slow
def test_acceptance_dates_after_new_year(trained: Path) -> None:
    now = dt.datetime(2019, 1, 9, 23, 0, tzinfo=dt.UTC)
    fc = fcast.forecast_symbol(trained, "SYN", horizon=5, levels=(0.8, 0.9), now=now)
    assert fc.as_of == D(2018, 12, 31)
    assert [s.date for s in fc.steps] == AFTER_NEW_YEAR
    assert fc.stale and fc.last_completed == D(2019, 1, 9)
    fresh = fcast.forecast_symbol(trained, "SYN", now=dt.datetime(2019, 1, 1, 12, tzinfo=dt.UTC))
    assert not fresh.stale


@pytest.mark.slow
def test_bounds_ordered_and_nested(trained: Path) -> None:
    fc = fcast.forecast_symbol(trained, "SYN", levels=(0.8, 0.9))
    for s in fc.steps:
        b80, b90 = s.bounds
        assert b90.lower <= b80.lower <= s.close <= b80.upper <= b90.upper
        assert s.change_pct == pytest.approx(100 * (s.close / fc.last_close - 1))
    # wider further ahead, in log-price terms (the price width also moves with the predicted path)
    widths = [math.log(s.bounds[1].upper / s.bounds[1].lower) for s in fc.steps]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(widths))


@pytest.mark.slow
def test_json_keys(trained: Path) -> None:
    d = fcast.forecast_symbol(trained, "SYN", horizon=3, levels=(0.9, 0.8)).to_dict()
    for key in ("ticker", "as_of", "last_close", "model", "trained_through", "levels"):
        assert key in d
    assert {"calendar", "stale", "forecasts"} <= set(d)
    assert d["levels"] == [0.9, 0.8] and len(d["forecasts"]) == 3
    row = d["forecasts"][0]
    assert {"date", "h", "close", "lower", "upper", "intervals"} <= set(row)
    assert row["lower"] == row["intervals"][0]["lower"]  # the first level at top level
    assert [i["level"] for i in row["intervals"]] == [0.9, 0.8]


@pytest.mark.slow
def test_log_rows_fit_the_forecast_log(trained: Path) -> None:
    from stockcast.schedule import forecastlog

    fc = fcast.forecast_symbol(trained, "SYN", levels=(0.8, 0.9))
    rows = fc.log_rows("run")
    assert len(rows) == len(fc.steps) * 2
    assert set(rows[0]) == set(forecastlog.COLUMNS)
    assert len(forecastlog.normalize(pd.DataFrame(rows))) == len(rows)


@pytest.mark.slow
def test_horizon_beyond_the_model_is_one_clear_line(trained: Path) -> None:
    with pytest.raises(UsageError, match=r"outside 1\.\.5"):
        fcast.forecast_symbol(trained, "SYN", horizon=6)


def test_no_model_names_the_fix(tmp_path: Path) -> None:
    PriceStore(tmp_path).write("NOPE", nyse_prices(n=50), source="csv")
    with pytest.raises(ModelError, match=r"no model for NOPE; run `stockcast train NOPE`"):
        fcast.forecast_symbol(tmp_path, "NOPE")


@pytest.mark.slow
def test_features_the_data_cannot_provide(trained: Path, tmp_path: Path) -> None:
    # same model, but the stored prices lost their volume column
    import shutil

    shutil.copytree(trained / "models", tmp_path / "models")
    PriceStore(tmp_path).write("SYN", nyse_prices(volume=False), source="csv")
    with pytest.raises(DataError) as err:
        fcast.forecast_symbol(tmp_path, "SYN")
    msg = str(err.value)
    assert "log_volume_change" in msg and "volume" in msg and "\n" not in msg


def test_skill_from_manifest() -> None:
    def h(m: float, p: float) -> dict:
        return {"mae": m, "baselines": {"persistence": {"mae": p}}}

    saved = next(LEGACY_MODEL.glob("*/manifest.json"))
    bare = Manifest.from_json(json.loads(saved.read_text())).with_reports({})
    bare = dataclasses.replace(
        bare, series=tuple(dataclasses.replace(s, test_metrics=None) for s in bare.series)
    )
    report = {"horizons": [h(0.99, 1.0), h(2.2, 2.0)], "summary": "x"}
    sk = fcast.skill_from_manifest(bare.with_reports({"MSFT": report}))
    assert sk.h1 == pytest.approx(0.01)
    assert sk.overall == pytest.approx(1 - 3.19 / 3.0)
    assert sk.beats_persistence is False
    assert fcast.skill_from_manifest(bare).h1 is None


def test_level_tag() -> None:
    assert fcast.level_tag(0.9) == "90" and fcast.level_tag(0.975) == "97.5"


@pytest.mark.slow
def test_the_logged_rows_carry_the_ewma_band_beside_the_models(trained: Path) -> None:
    """`run` logs the EWMA band of each forecast so that `score` can compare the bands."""
    fc = fcast.forecast_symbol(trained, "SYN", levels=(0.8, 0.9))
    rows = fc.log_rows("run")
    assert len(rows) == 2 * len(fc.steps)
    for r in rows:
        assert 0 < r["ewma_lower"] < r["last_close"] < r["ewma_upper"]  # around the last close
