"""The seed article's other architectures: each is causal where it claims to be, trains,
evaluates, backtests and predicts end to end, and reloads to identical predictions."""

from __future__ import annotations

import json

import pytest
import torch

from stockcast import models
from tests.helpers import TINY, run

NEW = ("lstm-attn", "cnn-lstm", "transformer")


@pytest.mark.parametrize("arch", sorted(models.REGISTRY))
def test_no_output_depends_on_a_session_after_the_as_of_one_in_a_shorter_window(arch):
    """Changing the last session changes the output; the first L-1 sessions' outputs of a causal
    model never depend on later sessions (checked through the as-of output of a prefix)."""
    config_cls, _ = models.lookup(arch)
    torch.manual_seed(0)
    model = models.build(config_cls(n_features=3, horizon=2, hidden=8), init=True).eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.head.weight)  # a head that reads the state
        x = torch.randn(2, 12, 3)
        y = x.clone()
        y[:, -1] += 1.0
        assert not torch.allclose(model(x), model(y))  # the as-of session matters
        prefix = model(x[:, :-1])  # the window that ends one session earlier ...
        assert torch.allclose(prefix, model(y[:, :-1]))  # ... ignores what came after it


def test_the_transformer_attends_only_to_the_past():
    from stockcast.models.transformer import Config, Model

    torch.manual_seed(0)
    model = Model(Config(n_features=2, horizon=1, hidden=8, heads=2)).eval()
    with torch.no_grad():
        x = torch.randn(1, 6, 2)
        z = model.encoder(model.embed(x), mask=torch.triu(torch.ones(6, 6, dtype=torch.bool), 1),
                          is_causal=True)  # fmt: skip
        x2 = x.clone()
        x2[:, 4:] += 5.0  # sessions 4 and 5 change
        z2 = model.encoder(model.embed(x2), mask=torch.triu(torch.ones(6, 6, dtype=torch.bool), 1),
                           is_causal=True)  # fmt: skip
        assert torch.allclose(z[:, :4], z2[:, :4], atol=1e-6)  # earlier ones are unaffected


@pytest.mark.slow
@pytest.mark.parametrize("arch", NEW)
def test_each_new_architecture_trains_evaluates_backtests_and_predicts(arch, sample):
    res = run("train", "MSFT", "--arch", arch, *TINY, "--json")
    assert res.exit_code == 0, res.stderr
    trained = json.loads(res.stdout)
    trained = trained[0] if isinstance(trained, list) else trained
    ev = json.loads(run("evaluate", "MSFT", "--json").stdout)
    ev = ev[0] if isinstance(ev, list) else ev
    assert ev["model"] == trained["model"]
    assert [h["mae"] for h in ev["horizons"]] == [
        h["mae"] for h in trained["evaluation"]["horizons"]
    ]  # the saved model reloads to the same test predictions
    first = json.loads(run("predict", "MSFT", "--json").stdout)
    again = json.loads(run("predict", "MSFT", "--json").stdout)
    first = first[0] if isinstance(first, list) else first
    again = again[0] if isinstance(again, list) else again
    assert [f["close"] for f in first["forecasts"]] == [f["close"] for f in again["forecasts"]]
    bt = run("backtest", "MSFT", "--arch", arch, *TINY, "--folds", "2", "--seeds", "1", "--json")
    assert bt.exit_code == 0, bt.stderr
    assert json.loads(bt.stdout)[0]["horizons"][0]["n"] > 0
