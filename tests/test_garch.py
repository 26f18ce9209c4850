"""The GARCH(1,1)-t baseline scale (issue 19): parameters, the forecast recursion, no
look-ahead, and a fallback instead of an error when the fit fails."""

from __future__ import annotations

import warnings

import arch
import numpy as np
import pytest

from stockcast.data.synthetic import garch_ohlc
from stockcast.errors import UsageError
from stockcast.forecasting.garch import garch_scales

H = 5


@pytest.fixture(scope="module")
def series() -> tuple[np.ndarray, np.ndarray]:
    """Daily log returns of a simulated GARCH-t series (alpha 0.08, beta 0.90, nu 6), and sigma."""
    s = garch_ohlc(6000, seed=7)
    return np.log(s.prices["close"].to_numpy()), s.sigma


def _returns(series: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    log_close, _ = series
    return np.concatenate([[np.nan], np.diff(log_close)])


def test_recovers_the_simulated_parameters_and_the_true_scale(series) -> None:
    r, sigma = _returns(series), series[1]
    asof = np.arange(4000, 5990)
    g = garch_scales(r, 4000, asof, H)
    assert g.converged and g.reason == ""
    assert set(g.params) == {"omega", "alpha", "beta", "nu", "mu"}
    assert g.params["alpha"] == pytest.approx(0.08, abs=0.03)
    assert g.params["beta"] == pytest.approx(0.90, abs=0.04)
    assert g.params["nu"] == pytest.approx(6.0, abs=2.5)
    assert g.scale.shape == (asof.size, H)
    one = g.scale[:, 0]  # the forecast of sigma[t + 1], made at t
    assert np.corrcoef(one, sigma[asof + 1])[0, 1] > 0.95
    assert np.median(one / sigma[asof + 1]) == pytest.approx(1.0, abs=0.1)
    assert (np.diff(g.scale, axis=1) > 0).all()  # variances add up over the horizon


def test_arch_forecasts_follow_the_garch_recursion(series) -> None:
    """arch's analytic forecasts against the GARCH(1,1) recursion written out: the filter
    sigma2[t+1] = omega + alpha (r[t] - mu)^2 + beta sigma2[t], and E[sigma2[t+k]] =
    omega + (alpha + beta) E[sigma2[t+k-1]] summed over k."""
    r = _returns(series)
    asof = np.arange(3000, 3400)
    g = garch_scales(r, 3000, asof, H)
    p = g.params
    one = g.scale[:, 0] ** 2  # sigma2 of session t + 1, known at t
    filtered = p["omega"] + p["alpha"] * (r[asof[1:]] - p["mu"]) ** 2 + p["beta"] * one[:-1]
    np.testing.assert_allclose(one[1:], filtered, rtol=1e-8)
    step, total = one.copy(), one.copy()
    for h in range(2, H + 1):
        step = p["omega"] + (p["alpha"] + p["beta"]) * step
        total = total + step
        np.testing.assert_allclose(g.scale[:, h - 1], np.sqrt(total), rtol=1e-8)


@pytest.mark.parametrize("t", [2999, 3000, 3200])
def test_a_scale_never_reads_a_later_return(series, t: int) -> None:
    r = _returns(series)
    asof = np.arange(2999, 3300)
    base = garch_scales(r, 3000, asof, H).scale
    later = r.copy()
    later[t + 1 :] = np.random.default_rng(t).normal(0, 0.05, r.size - t - 1)
    moved = garch_scales(later, 3000, asof, H).scale
    upto = asof <= t
    np.testing.assert_array_equal(moved[upto], base[upto])
    assert not np.allclose(moved[~upto], base[~upto])


def test_a_failed_fit_falls_back_silently(capsys) -> None:
    r = np.zeros(600)  # nothing to fit: the optimiser does not converge
    r[0] = np.nan
    asof = np.arange(500, 510)
    vol = np.linspace(0.01, 0.02, asof.size)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning would fail the test
        g = garch_scales(r, 500, asof, H, fallback_vol=vol)
    assert not g.converged and g.params == {}
    assert "did not converge" in g.reason and "\n" not in g.reason
    np.testing.assert_allclose(g.scale, vol[:, None] * np.sqrt(np.arange(1, H + 1)))
    assert capsys.readouterr() == ("", "")


def test_too_few_or_missing_returns_fall_back_to_the_sample_std(series) -> None:
    r = _returns(series)
    short = garch_scales(r, 100, np.array([150, 160]), 2)
    assert not short.converged and "fewer than" in short.reason
    np.testing.assert_allclose(short.scale[:, 0], np.std(r[1:100], ddof=1))
    np.testing.assert_allclose(short.scale[:, 1], np.std(r[1:100], ddof=1) * np.sqrt(2))
    assert np.isnan(garch_scales(r, -5, np.array([10]), 1).scale).all()  # no sample to use
    holed = r.copy()
    holed[50] = np.nan
    assert "not finite" in garch_scales(holed, 1000, np.array([1200]), 1).reason


def test_an_exception_inside_arch_is_a_fallback(series, monkeypatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise np.linalg.LinAlgError("singular matrix\nsecond line")

    monkeypatch.setattr(arch, "arch_model", broken)  # garch.py imports it when it fits
    g = garch_scales(_returns(series), 1000, np.array([1000, 1001]), 3, np.array([0.01, 0.02]))
    assert not g.converged and g.reason == "the fit failed: LinAlgError: singular matrix"
    np.testing.assert_allclose(g.scale[1], 0.02 * np.sqrt([1, 2, 3]))


def test_arguments_that_do_not_fit_together_are_usage_errors(series) -> None:
    r = _returns(series)
    with pytest.raises(UsageError, match="session 0 has no return"):
        garch_scales(r, 1000, np.array([0, 5]), 1)
    with pytest.raises(UsageError, match="one value per as-of session"):
        garch_scales(r, 1000, np.array([1000, 1001]), 1, fallback_vol=np.ones(3))
    with pytest.raises(UsageError, match="horizon"):
        garch_scales(r, 1000, np.array([1000]), 0)
