"""Metrics, evaluation against naive baselines, intervals and dated forecasts."""
