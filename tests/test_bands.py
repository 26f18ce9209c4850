"""The distributional band: the scale network, bands against EWMA and GARCH, the export.

Unit tests check the pieces with hand computations; the slow tests train small models on a
simulated GARCH(1,1)-t series with real intraday ranges (``data/synthetic.py``), where the oracle
band is known, and on the bundled sample through `backtest --forecasts`.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.synthetic import garch_ohlc, oracle_bounds
from stockcast.forecasting import bands, evaluation, intervals, stats
from stockcast.models import lstm
from stockcast.models.scale import ScaleHead, sigma, std_factor
from stockcast.options import DataConfig, TrainConfig
from stockcast.prep import features
from stockcast.training.recipe import Recipe, fit_recipe
from stockcast.training.scale import ScaleNLL, initial_bias, standardised


def test_gaussian_nll_matches_the_formula() -> None:
    rng = np.random.default_rng(0)
    out, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    c = np.array([0.1, -0.2, 0.0])
    got = float(ScaleNLL(c, "gaussian")(torch.tensor(out), torch.tensor(y)))
    z = (y - c) / np.exp(out)
    assert got == pytest.approx(float(np.mean(out + 0.5 * z**2)), rel=1e-6)
    got_t = float(ScaleNLL(c, "student-t")(torch.tensor(out), torch.tensor(y)))
    assert got_t == pytest.approx(float(np.mean(out + 3.0 * np.log1p(z**2 / 5.0))), rel=1e-6)


def test_the_gaussian_likelihood_is_lowest_at_the_true_scale() -> None:
    rng = np.random.default_rng(1)
    y = torch.tensor(rng.normal(scale=2.0, size=(20_000, 1)))
    loss = ScaleNLL(np.zeros(1), "gaussian")
    values = {s: float(loss(torch.full_like(y, math.log(s)), y)) for s in (1.5, 2.0, 2.5)}
    assert min(values, key=values.__getitem__) == 2.0


def test_initial_bias_is_the_training_spread_as_a_standard_deviation() -> None:
    y = np.array([[1.0, 2.0], [-1.0, -2.0], [1.0, 2.0], [-1.0, -2.0]])
    c = np.zeros(2)
    for kind in ("gaussian", "student-t"):
        b = initial_bias(y, c, kind)  # on EWMA-standardised moves: a multiplier of the EWMA scale
        got = sigma(b[None, :], np.array([1.0]), kind)[0] / np.sqrt([1.0, 2.0])
        assert got == pytest.approx([1.0, 2.0])
    vol = np.array([0.01, 0.02])
    z = standardised(np.array([[0.01, 0.02], [0.04, 0.04]]), vol)
    assert z == pytest.approx(np.array([[1.0, 2 / np.sqrt(2)], [2.0, 2 / np.sqrt(2)]]))
    assert std_factor("student-t") == pytest.approx(math.sqrt(5 / 3))


def test_scale_head_falls_back_to_ewma_where_not_used() -> None:
    head = ScaleHead("gaussian", (True, False))
    out = np.log(np.array([[0.5, 0.5]]))
    s = head.scales(out, np.array([0.01]))
    assert s[0, 0] == pytest.approx(0.005)  # 0.5 x the EWMA scale 0.01: the network
    assert s[0, 1] == pytest.approx(0.01 * math.sqrt(2))  # vol * sqrt(2): EWMA
    assert ScaleHead.from_dict(head.to_dict()) == head
    assert ScaleHead.from_dict(None) is None
    assert "EWMA scale at h=2" in head.describe()


def _heteroskedastic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    true = np.exp(rng.normal(-4.0, 0.6, size=n))  # (n,) daily std
    return rng.normal(size=(n, 1)) * true[:, None], true


def test_the_true_scale_is_preferred_and_noise_is_not() -> None:
    y, true = _heteroskedastic(3000, 2)
    mu = np.zeros_like(y)
    flat = np.full(len(y), float(np.std(y)))  # an EWMA that knows nothing
    assert intervals.prefer_model_scale(y, mu, true[:, None], flat).tolist() == [True]
    noise = np.exp(np.random.default_rng(3).normal(-4.0, 0.6, size=(len(y), 1)))
    assert intervals.prefer_model_scale(y, mu, noise, true).tolist() == [False]


def test_explicit_scales_calibrate_to_their_level_and_never_narrow_with_h() -> None:
    y, true = _heteroskedastic(4000, 4)
    s = np.column_stack([true, true * 0.5])  # a scale that shrinks with h
    y2 = np.column_stack([y[:, 0], y[:, 0] * 0.5])
    cal = intervals.calibrate(y2[:2000], np.zeros((2000, 2)), s[:2000], [0.9])
    lo, hi = intervals.log_bounds(np.zeros((2000, 2)), s[2000:], cal)
    cover = np.mean((lo[:, 0, 0] <= y2[2000:, 0]) & (y2[2000:, 0] <= hi[:, 0, 0]))
    assert 0.88 <= cover <= 0.92
    assert (hi[:, 0, 1] - lo[:, 0, 1] >= hi[:, 0, 0] - lo[:, 0, 0] - 1e-15).all()


def test_band_rows_recompute_independently() -> None:
    rng = np.random.default_rng(5)
    n, h = 400, 2
    y = rng.normal(scale=0.01, size=(n, h))
    close = rng.uniform(10, 100, size=n)
    width = {"model": 0.012, "ewma": 0.015, "garch": 0.02, "constant": 0.013}
    bounds = {k: (np.full((n, 1, h), -w), np.full((n, 1, h), w)) for k, w in width.items()}
    rows = bands.band_rows(y, close, bounds, [0.9], 2)
    r = rows[0]
    yy = y[:, 1]
    for name, w in width.items():
        price, lo, hi = close * np.exp(yy), close * np.exp(-w), close * np.exp(w)
        scores = stats.interval_scores(price, lo, hi, 0.1) / close  # units of the close
        hits = np.mean((-w <= yy) & (yy <= w))
        got = r if name == "model" else r["bands"][name]
        assert got["interval_score"] == pytest.approx(float(np.mean(scores)), rel=1e-12)
        assert got["coverage"] == pytest.approx(hits)
    base = stats.interval_scores(close * np.exp(yy), close * np.exp(-0.015), close * np.exp(0.015),
                                 0.1) / close  # fmt: skip
    model = stats.interval_scores(close * np.exp(yy), close * np.exp(-0.012),
                                  close * np.exp(0.012), 0.1) / close  # fmt: skip
    assert r["skill_vs_ewma"]["value"] == pytest.approx(1 - model.mean() / base.mean())
    assert r["skill_vs_ewma"]["dm_pvalue"] == pytest.approx(
        stats.diebold_mariano(model, base, 2).pvalue
    )
    assert r["interval_score_price"] == pytest.approx(float(np.mean(model * close)))


# --- slow: trained scale networks -----------------------------------------------------------

SYN = {"n": 8000, "seed": 1, "omega": 5e-6, "alpha": 0.15, "beta": 0.80}  # EWMA lags this vol


def _fit_synthetic(feats: tuple[str, ...]):
    s = garch_ohlc(**SYN)
    data = DataConfig(features=feats, lookback=60, horizon=1)
    cfg = lstm.Config(n_features=len(feats), horizon=1, hidden=16)
    made = Recipe(data, cfg, TrainConfig(ensemble=1, seed=0))
    fitted = fit_recipe("SYN", s.prices, made, device="cpu")
    ds = fitted.dataset
    test = evaluation.part_predictions(fitted.model, ds, "test", scale=fitted.scale.net)
    v = fitted.val
    b = bands.log_bounds(
        bands.BandInputs(v.y, v.mu, v.band_scale, v.vol, None),
        bands.BandInputs(test.y, test.mu, test.band_scale, test.vol, None),
        [0.9],
    )
    y = test.y[:, 0]
    lo, hi = oracle_bounds(s, test.asof + ds.offset, 0.9)

    def score(lo_: np.ndarray, hi_: np.ndarray) -> float:
        return float(np.mean(intervals.relative_scores(y, lo_, hi_, 0.1)))

    model = score(b["model"][0][:, 0, 0], b["model"][1][:, 0, 0])
    ewma = score(b["ewma"][0][:, 0, 0], b["ewma"][1][:, 0, 0])
    return model, ewma, score(lo, hi), fitted


@pytest.mark.slow
def test_synthetic_garch_band_nears_the_oracle_and_beats_ewma() -> None:
    model, ewma, oracle, fitted = _fit_synthetic(("log_return", "hl_pct"))
    assert fitted.scale is not None and fitted.scale.head.use == (True,)
    assert model < ewma  # the range tells the network what EWMA learns late
    assert model <= 1.05 * oracle  # within a few percent of the best possible band
    assert model >= 0.99 * oracle  # and not impossibly better than it


@pytest.mark.slow
def test_a_planted_look_ahead_in_a_range_feature_shows_as_impossible_skill(monkeypatch) -> None:
    def tomorrows_range(a: pd.DataFrame) -> pd.Series:
        return (np.log(a["high"] / a["low"])).shift(-1).fillna(0.0)  # the next session's bar

    leak = features.Feature("next_range", "ln(H/L)[t+1] (a planted look-ahead)", 1, False,
                            tomorrows_range)  # fmt: skip
    monkeypatch.setitem(features.REGISTRY, "next_range", leak)
    model, _, oracle, _ = _fit_synthetic(("log_return", "next_range"))
    assert model < 0.9 * oracle  # better than the true conditional law: only a leak does that


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    """A small backtest of the sample with --forecasts, its JSON and the exported table."""
    home = tmp_path_factory.mktemp("bands")
    runner = CliRunner()
    env = {"STOCKCAST_HOME": str(home)}
    assert runner.invoke(app, ["fetch", "--sample"], env=env).exit_code == 0
    path = home / "fc.csv"
    out = runner.invoke(app, ["backtest", "MSFT", "--folds", "2", "--seeds", "1", "--epochs", "2",
                              "--hidden", "8", "--lookback", "20", "--json", "--forecasts",
                              str(path)], env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)[0], pd.read_csv(path)


@pytest.mark.slow
def test_backtest_json_has_the_bands_against_ewma_and_garch(exported) -> None:
    r, _ = exported
    assert r["garch"]["folds"] == 2
    for h in r["horizons"]:
        for b in h["intervals"]:
            assert set(b["bands"]) >= {"ewma", "garch"}
            for name in ("ewma", "garch"):
                assert set(b["bands"][name]) >= {"coverage", "interval_score"}
                s = b[f"skill_vs_{name}"]
                assert s["low"] <= s["value"] <= s["high"] and 0 <= s["dm_pvalue"] <= 1
                assert s["value"] == pytest.approx(
                    1 - b["interval_score"] / b["bands"][name]["interval_score"]
                )


@pytest.mark.slow
def test_backtest_forecasts_recompute_to_the_json(exported) -> None:
    r, table = exported
    assert {"symbol", "origin", "date", "h", "close", "actual", "forecast"} <= set(table.columns)
    assert len(table) == sum(f["n"] for f in r["folds"]) * len(r["horizons"])
    for h in r["horizons"]:
        rows = table[table["h"] == h["h"]]
        for b in h["intervals"]:
            tag, alpha = f"{round(b['level'] * 100)}", 1 - b["level"]
            for name in ("model", "ewma", "garch"):
                lo, hi = rows[f"{name}_lo_{tag}"], rows[f"{name}_hi_{tag}"]
                act, close = rows["actual"], rows["close"]
                cov = float(np.mean((lo <= act) & (act <= hi)))
                score = float(np.mean(stats.interval_scores(act, lo, hi, alpha) / close))
                want = b if name == "model" else b["bands"][name]
                assert cov == pytest.approx(want["coverage"], abs=1e-12)
                assert score == pytest.approx(want["interval_score"], rel=1e-9)
        mae = float(np.mean(np.abs(rows["forecast"] - rows["actual"])))
        assert mae == pytest.approx(h["mae"], rel=1e-9)


def test_a_band_wider_than_the_price_or_not_finite_is_refused() -> None:
    ok = {"mean_width_pct": 4.0, "max_width_pct": 9.0, "interval_score": 0.06}
    assert bands.unusable([[ok]]) is None
    wide = {**ok, "max_width_pct": 140.0}
    assert "wider than the price" in (bands.unusable([[ok], [wide]]) or "")
    nan = {**ok, "interval_score": float("nan")}
    assert "not a finite number" in (bands.unusable([[nan]]) or "")


@pytest.mark.slow
def test_a_global_model_has_scale_networks_and_predicts_with_its_band(stockcast_home) -> None:
    """The band is the same for one series or many: a global model trains scale networks,
    saves them with its live refit, and `predict --model NAME` uses them."""
    from test_global import GLOBAL, SYMS, _store_three

    from stockcast.models import store as modelstore

    _store_three(stockcast_home)
    runner = CliRunner()
    res = runner.invoke(app, ["train", *SYMS, "--global", "--name", "trio", *GLOBAL])
    assert res.exit_code == 0, res.output
    manifest = modelstore.read_manifest(stockcast_home, "trio")
    assert manifest.scale is not None
    assert manifest.scale.kind == "gaussian" and len(manifest.scale.use) == 3
    _, _, calib = modelstore.load_model(stockcast_home, "trio", symbol="BBB", weights="live")
    assert calib["sigma"].shape == calib["y"].shape and np.isfinite(calib["sigma"]).all()
    loaded = modelstore.load_numpy(stockcast_home, "trio", symbol="BBB", weights="live").scale
    assert loaded is not None and loaded[0].kind == "gaussian"
    out = runner.invoke(app, ["predict", "BBB", "--model", "trio", "--json"])
    assert out.exit_code == 0, out.output
    fc = json.loads(out.stdout)
    fc = fc[0] if isinstance(fc, list) else fc
    assert fc["band"]["scale"] == manifest.scale.description
    assert fc["expected_move_h1"][0]["within_pct"] > 0
    plain = runner.invoke(app, ["train", *SYMS, "--global", "--name", "duo", "--band", "ewma",
                                *GLOBAL])  # fmt: skip
    assert plain.exit_code == 0, plain.output
    assert modelstore.read_manifest(stockcast_home, "duo").scale is None
