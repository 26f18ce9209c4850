"""Metrics and naive baselines on hand-checked numbers."""

from __future__ import annotations

import numpy as np
import pytest

from stockcast.forecasting import metrics

CLOSE = np.array([10.0, 11.0, 12.0, 11.0, 13.0, 14.0, 12.0])


def test_persistence_and_actuals():
    asof = np.array([2, 3])
    np.testing.assert_array_equal(metrics.persistence(CLOSE, asof, 2), [[12, 12], [11, 11]])
    np.testing.assert_array_equal(metrics.actuals(CLOSE, asof, 2), [[11, 13], [13, 14]])


def test_drift_uses_the_mean_log_return_of_the_whole_history():
    asof = np.array([4])
    mean = np.log(13.0 / 10.0) / 4
    expected = 13.0 * np.exp(mean * np.array([1, 2]))
    np.testing.assert_allclose(metrics.drift(CLOSE, asof, 2)[0], expected)
    np.testing.assert_allclose(metrics.drift(CLOSE, np.array([0]), 1), [[10.0]])


def test_sma_is_the_mean_of_the_last_five_closes():
    np.testing.assert_allclose(metrics.sma(CLOSE, np.array([5]), 3)[0], [12.2] * 3)
    np.testing.assert_allclose(metrics.sma(CLOSE, np.array([1]), 1)[0], [10.5])


def test_error_summary():
    pred, actual, last = np.array([11.0, 9.0]), np.array([12.0, 8.0]), np.array([10.0, 10.0])
    e = metrics.error_summary(pred, actual, last)
    assert e["mae"] == 1.0 and e["rmse"] == 1.0
    assert e["mape"] == pytest.approx((1 / 12 + 1 / 8) / 2 * 100)
    assert e["directional_accuracy"] == 1.0
    # a flat forecast calls "not up": it scores the share of moves that were not up
    flat = metrics.directional_accuracy(last, actual, last)
    assert flat == 1 - metrics.up_share(actual, last) == 0.5


def test_skill_and_model_prices():
    assert metrics.skill(0.9, 1.0) == pytest.approx(0.1)
    assert metrics.skill(1.0, 0.0) is None
    prices = metrics.model_prices(CLOSE, np.array([0]), np.array([[0.0, np.log(1.1)]]))
    np.testing.assert_allclose(prices, [[10.0, 11.0]])
