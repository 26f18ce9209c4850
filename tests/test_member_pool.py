"""The scale networks train in the same pool of threads as the point members
(``recipe.fit_recipe``): the fitted model is what training them after the point members, alone in
their pool (``recipe.fit_scale``), gives, weight for weight."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from stockcast.data.sources.sample import load_sample
from stockcast.models import lstm
from stockcast.models.scale import KINDS
from stockcast.options import DataConfig, TrainConfig
from stockcast.training import recipe


@pytest.mark.slow
def test_scale_networks_beside_the_point_members_equal_them_trained_after() -> None:
    prices = load_sample().iloc[-900:]
    data = DataConfig(lookback=12, horizon=2)
    model_cfg = lstm.Config(n_features=len(data.features), horizon=2, hidden=4)
    cfg = TrainConfig(epochs=2, ensemble=2, patience=1, seed=3)
    fitted = recipe.fit_recipe("MSFT", prices, recipe.Recipe(data, model_cfg, cfg), device="cpu")
    assert fitted.scale is not None and fitted.workers >= 1
    ds = fitted.dataset
    alone = recipe.fit_scale(ds, model_cfg, recipe.member_configs(cfg, 2),
                             dataclasses.replace(fitted.val, sigma=None), KINDS[cfg.band],
                             torch.device("cpu"), workers=1)  # fmt: skip
    got, want = fitted.scale.model.state_dict(), alone.model.state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in got)
    assert fitted.scale.head == alone.head
    assert [f.best_epoch for f in fitted.scale.fits] == [f.best_epoch for f in alone.fits]
    ewma = dataclasses.replace(cfg, band="ewma")
    point_alone = recipe.fit_recipe("MSFT", prices, recipe.Recipe(data, model_cfg, ewma),
                                    device="cpu")  # fmt: skip
    got, want = fitted.model.state_dict(), point_alone.model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert point_alone.scale is None
