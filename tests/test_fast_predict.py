"""`predict` without torch: numpy forwards that match torch's, and the cached session table.

The torch route is the reference: both routes give the same forecast (closes and bands) to
1e-9 relative for an LSTM, a GRU, an ensemble, live weights and a format-1 model; and a
`predict` of a model with a numpy forward imports neither torch nor the exchange calendars
once the calendar cache is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import TINY, run_in

from stockcast import models
from stockcast.data import calendar as cal
from stockcast.data import calendarstore
from stockcast.errors import UsageError
from stockcast.forecasting import forecast as fcast
from stockcast.models import numpy_infer
from stockcast.models import store as modelstore
from stockcast.models.manifest import Manifest

D = dt.date
LEGACY = Path(__file__).parent / "fixtures" / "legacy_model_v1" / "MSFT"
PREDECESSOR_MSFT = Path(__file__).parent / "fixtures" / "models_397d288" / "MSFT"
HEAVY = ("torch", "scipy", "matplotlib", "yfinance", "exchange_calendars")


# --- numpy forwards against torch's -----------------------------------------------------


@pytest.mark.parametrize("arch", sorted(numpy_infer.FORWARDS))
@pytest.mark.parametrize("members", [1, 3])
def test_numpy_forward_matches_torch(arch: str, members: int) -> None:
    config_cls, _ = models.lookup(arch)
    cfg = config_cls(n_features=3, horizon=4, hidden=6, layers=2)
    torch.manual_seed(0)
    nets = [models.build(cfg) for _ in range(members)]
    model = nets[0] if members == 1 else models.make_ensemble(nets)
    for p in model.parameters():  # every weight and bias non-zero (b_hn's place matters)
        p.data.normal_(0.0, 0.5)
    model.eval()
    x = np.random.default_rng(1).normal(size=(5, 9, 3))  # (B, L, F)
    with torch.no_grad():
        want = model(torch.as_tensor(x)).double().numpy()  # -> (B, H)
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    predict = numpy_infer.predictor(arch, cfg.to_dict(), weights, members)
    assert predict is not None
    got = predict(x)
    assert got.shape == (5, 4) and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)  # torch computes in float32


def test_weights_of_another_shape_are_refused() -> None:
    cfg = {"n_features": 3, "horizon": 4, "hidden": 6, "layers": 1}
    shapes = numpy_infer.expected_shapes("lstm", cfg)
    weights = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    assert numpy_infer.predictor("lstm", cfg, weights) is not None
    with pytest.raises(ValueError, match="keys"):
        numpy_infer.predictor("lstm", cfg, {**weights, "extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"head\.bias"):
        numpy_infer.predictor("lstm", cfg, {**weights, "head.bias": np.zeros(5, np.float32)})


def test_an_architecture_without_a_numpy_forward_falls_back() -> None:
    assert numpy_infer.predictor("no-such-arch", {}, {}) is None


# --- the two routes of a saved model ---------------------------------------------------------


def assert_same_forecast(auto: fcast.Forecast, ref: fcast.Forecast) -> None:
    """Dates, closes and every band equal to 1e-9 relative."""
    assert auto.as_of == ref.as_of and auto.model == ref.model
    assert [s.date for s in auto.steps] == [s.date for s in ref.steps]
    for a, r in zip(auto.steps, ref.steps, strict=True):
        assert a.close == pytest.approx(r.close, rel=1e-9)
        assert a.log_return == pytest.approx(r.log_return, rel=1e-6, abs=1e-9)
        for ba, br in zip(a.bounds, r.bounds, strict=True):
            assert ba.level == br.level
            assert ba.lower == pytest.approx(br.lower, rel=1e-9)
            assert ba.upper == pytest.approx(br.upper, rel=1e-9)


def both_routes(root: Path, model_id: str | None = None) -> tuple[fcast.Forecast, ...]:
    now = dt.datetime(2018, 1, 2, 23, 0, tzinfo=dt.UTC)
    kw = {"model_id": model_id, "levels": (0.8, 0.95), "now": now}
    auto = fcast.forecast_symbol(root, "MSFT", inference="auto", **kw)
    ref = fcast.forecast_symbol(root, "MSFT", inference="torch", **kw)
    return auto, ref


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The sample with three tiny models: an LSTM, a GRU, an ensemble of two LSTMs (all with
    live weights, as `train` saves them)."""
    root = tmp_path_factory.mktemp("fastpredict")
    assert run_in(root, "fetch", "--sample").exit_code == 0
    ids = {}
    for label, extra in {
        "lstm": ["--ensemble", "1"],
        "gru": ["--arch", "gru", "--ensemble", "1"],
        "ensemble": ["--ensemble", "2"],
    }.items():
        res = run_in(root, "train", "MSFT", *TINY, *extra, "--json")
        assert res.exit_code == 0, res.output
        out = json.loads(res.stdout)
        ids[label] = (out[0] if isinstance(out, list) else out)["model"]  # one symbol's object
    return root, ids


@pytest.mark.slow
@pytest.mark.parametrize("label", ["lstm", "gru", "ensemble"])
def test_numpy_and_torch_routes_give_the_same_forecast(trained, label: str) -> None:
    root, ids = trained
    loaded = fcast.load_live(root, "MSFT", ids[label], "MSFT")
    manifest, predict = loaded.manifest, loaded.predict
    assert (
        predict is not None and predict.__module__ == numpy_infer.__name__
    )  # the numpy route was taken
    assert manifest.ensemble == (2 if label == "ensemble" else 1)
    assert manifest.live is not None  # live weights: what predict uses
    auto, ref = both_routes(root, ids[label])
    assert_same_forecast(auto, ref)


@pytest.mark.slow
@pytest.mark.parametrize("weights", ["live", "evaluated"])
def test_the_numpy_loader_reads_the_weight_set_load_model_reads(trained, weights: str) -> None:
    root, ids = trained
    manifest, model, calib = modelstore.load_model(root, "MSFT", ids["ensemble"], weights=weights)
    loaded = modelstore.load_numpy(root, "MSFT", ids["ensemble"], weights=weights)
    predict, ncalib = loaded.predict, loaded.calib
    assert predict is not None
    for part in ("y", "mu", "vol"):
        np.testing.assert_array_equal(ncalib[part], calib[part])
    L, F = manifest.data.lookback, manifest.model_config["n_features"]
    x = np.random.default_rng(0).normal(size=(4, L, F))
    with torch.no_grad():
        want = model(torch.as_tensor(x)).double().numpy()
    np.testing.assert_allclose(predict(x), want, rtol=1e-5, atol=1e-6)


def test_the_numpy_loader_reads_live_weights_when_asked(tmp_path: Path) -> None:
    """A saved model whose evaluated and live weights (and calibrations) all differ."""
    cfg = models.lookup("lstm")[0](n_features=3, horizon=2, hidden=4)
    torch.manual_seed(0)
    nets = {"evaluated": models.build(cfg).eval(), "live": models.build(cfg).eval()}
    for net in nets.values():
        for p in net.parameters():
            p.data.normal_(0.0, 0.5)
    calibs = {w: {"MSFT": {"y": np.full((3, 2), k), "mu": np.zeros((3, 2)), "vol": np.ones(3)}}
              for k, w in enumerate(nets)}  # fmt: skip
    manifest = {"arch": "lstm", "model_config": cfg.to_dict(), "features": ["a", "b", "c"],
                "series": {"MSFT": {"scalers": {}, "split": {}}}}  # fmt: skip
    model_id, _ = modelstore.save_model(
        tmp_path, "MSFT", Manifest.from_json(manifest), nets["evaluated"].state_dict(),
        calibs["evaluated"], live_weights=nets["live"].state_dict(), live_calib=calibs["live"],
    )  # fmt: skip
    x = np.random.default_rng(0).normal(size=(2, 7, 3))
    for weights, net in nets.items():
        loaded = modelstore.load_numpy(tmp_path, "MSFT", model_id, weights=weights)
        predict, calib = loaded.predict, loaded.calib
        assert predict is not None and loaded.scale is None  # no scale networks saved
        with torch.no_grad():
            want = net(torch.as_tensor(x)).double().numpy()
        np.testing.assert_allclose(predict(x), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(calib["y"], calibs[weights]["MSFT"]["y"])


def copy_legacy(root: Path) -> str:
    """The format-1 fixture (an LSTM without live weights) under ``root``; returns its id."""
    shutil.copytree(LEGACY, root / "models" / "MSFT")
    return next(p.name for p in LEGACY.iterdir() if p.is_dir())


def test_a_format_1_model_gives_the_same_forecast_on_both_routes(sample: Path) -> None:
    copy_legacy(sample)
    auto, ref = both_routes(sample)
    assert_same_forecast(auto, ref)


# --- predict's imports -------------------------------------------------------------------

_PREDICT = (
    "import sys\n"
    "from stockcast.cli import main\n"
    "sys.argv = ['stockcast', 'predict', 'MSFT', '--quiet']\n"
    "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
)


def heavy_modules_of_predict(root: Path) -> list[str]:
    env = {**os.environ, "STOCKCAST_HOME": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", _PREDICT], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    last = out.stdout.strip().splitlines()[-1]
    return [m for m in last.removeprefix("HEAVY=").split(",") if m]


def test_predict_imports_no_torch_and_reads_the_calendar_cache(sample: Path) -> None:
    # an ensemble saved by the predecessor release (a 0.1.0 model forecasts through torch, as
    # that release did: tests/test_model_registry.py)
    shutil.copytree(PREDECESSOR_MSFT, sample / "models" / "MSFT")
    first = heavy_modules_of_predict(sample)  # writes the calendar cache
    assert first == ["exchange_calendars"]
    assert calendarstore.path(sample, "XNYS").is_file()
    assert heavy_modules_of_predict(sample) == []  # torch, scipy, calendars: none


# --- the session table cache ---------------------------------------------------------------


@pytest.fixture
def fresh_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the tables this process holds (as a new process would)."""
    monkeypatch.setattr(cal, "_TABLES", {})


AFTER = [D(2017, 11, 10), D(2018, 12, 31), D(2019, 4, 18), D(2019, 12, 24), D(2025, 12, 23)]
NOWS = [
    dt.datetime(2019, 1, 2, 20, 0, tzinfo=dt.UTC),
    dt.datetime(2019, 1, 2, 21, 30, tzinfo=dt.UTC),
    dt.datetime(2019, 1, 6, 12, 0),
    dt.datetime(2019, 7, 3, 17, 30, tzinfo=dt.UTC),  # an early close (13:00 New York)
    dt.datetime(2019, 7, 3, 16, 30, tzinfo=dt.UTC),
]


def library_last_completed(built, now: dt.datetime) -> dt.date:
    """The last completed session asked of exchange_calendars itself."""
    stamp = pd.Timestamp(now)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    session = built.date_to_session(pd.Timestamp(stamp.date()), direction="previous")
    if built.session_close(session) > stamp:
        session = built.previous_session(session)
    return session.date()


@pytest.mark.parametrize("code", ["XNYS", "XLON"])
def test_the_cache_answers_as_the_calendar_does(tmp_path: Path, fresh_tables, code: str) -> None:
    built = cal.get_calendar(code)
    sessions = built.sessions
    for _ in range(2):  # the first round builds and writes the table, the second reads it
        cal._TABLES.clear()
        for day in AFTER:
            want = [s.date() for s in sessions[sessions > pd.Timestamp(day)][:5]]
            assert cal.next_sessions(day, 5, code, tmp_path) == want
        for now in NOWS:
            assert cal.last_completed_session(now, code, tmp_path) == library_last_completed(
                built, now
            )
        got = cal.sessions_after(D(2018, 12, 20), D(2019, 1, 10), code, tmp_path)
        assert got == len(built.sessions_in_range("2018-12-21", "2019-01-10"))
    obj = json.loads(calendarstore.path(tmp_path, code).read_text())
    assert obj["code"] == code and obj["exchange_calendars"] == cal._library_version()
    assert D.fromisoformat(obj["end"]) == D(D.today().year + cal.YEARS_AHEAD, 12, 31)
    assert D.fromisoformat(obj["start"]).year == D.today().year - cal.CACHE_YEARS_BACK


def test_a_date_before_the_cache_extends_it(tmp_path: Path, fresh_tables) -> None:
    cal.next_sessions(D(2019, 1, 2), 1, "XNYS", tmp_path)
    start = json.loads(calendarstore.path(tmp_path, "XNYS").read_text())["start"]
    cal._TABLES.clear()
    assert cal.next_sessions(D(1999, 12, 30), 2, "XNYS", tmp_path) == [
        D(1999, 12, 31),
        D(2000, 1, 3),
    ]
    obj = json.loads(calendarstore.path(tmp_path, "XNYS").read_text())
    assert obj["start"] == "1998-01-01" < start and obj["sessions"][0] == "1998-01-02"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda o: {**o, "exchange_calendars": "0.0.1"},  # another library version
        lambda o: {**o, "end": "2001-12-31"},  # written in an earlier year
        lambda o: {**o, "sessions": o["sessions"][:-1]},  # malformed
        lambda o: "not an object",
    ],
)
def test_a_stale_or_broken_cache_is_rebuilt(tmp_path: Path, fresh_tables, spoil) -> None:
    cal.check_calendar("XNYS", tmp_path)
    path = calendarstore.path(tmp_path, "XNYS")
    good = json.loads(path.read_text())
    path.write_text(json.dumps(spoil(good)))
    cal._TABLES.clear()
    assert cal.next_sessions(D(2018, 12, 31), 1, "XNYS", tmp_path) == [D(2019, 1, 2)]
    assert json.loads(path.read_text()) == good


def test_an_unknown_code_is_one_line_and_caches_nothing(tmp_path: Path, fresh_tables) -> None:
    with pytest.raises(UsageError, match="unknown exchange calendar 'NOPE'"):
        cal.check_calendar("nope", tmp_path)
    assert not (tmp_path / "cache").exists()


def test_dates_outside_the_rules_are_refused_from_the_cache(tmp_path: Path, fresh_tables) -> None:
    with pytest.raises(UsageError, match="outside the dates"):
        cal.next_sessions(D(1990, 1, 5), 1, "XTKS", tmp_path)  # XTKS rules start in 1997
    far = D(D.today().year + cal.YEARS_AHEAD + 1, 6, 1)
    with pytest.raises(UsageError, match="outside the dates"):
        cal.next_sessions(far, 1, "XNYS", tmp_path)


def test_an_unwritable_cache_costs_only_time(tmp_path: Path, fresh_tables) -> None:
    (tmp_path / "cache").write_text("a file where the folder goes")
    assert cal.next_sessions(D(2018, 12, 31), 1, "XNYS", tmp_path) == [D(2019, 1, 2)]
