"""stockcast.toml: parsing, defaults, overrides, clear errors, the example, the retrain rule."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from stockcast.schedule.config import (
    DEFAULT_LEVELS,
    EXAMPLE,
    ConfigError,
    RetrainPolicy,
    config_path,
    load,
    parse,
    write_example,
)


def test_minimal_file(tmp_path: Path) -> None:
    path = tmp_path / "stockcast.toml"
    path.write_text('symbols = ["aapl", "MSFT", "AAPL"]\n')
    config = load(path)
    assert config.symbols == ("AAPL", "MSFT")
    plan = config.plan("AAPL")
    assert plan.levels == DEFAULT_LEVELS
    assert plan.horizon is None
    assert dict(plan.train) == {}
    assert plan.retrain == RetrainPolicy(7, 5)
    assert config.path == path


def test_full_file_and_overrides() -> None:
    data = tomllib.loads(
        """
        symbols = ["AAPL", "msft"]
        levels = [0.9, 0.5]
        horizon = 3
        [train]
        epochs = 4
        horizon = 5
        features = ["log_return"]
        [retrain]
        every_days = 1
        [overrides.MSFT]
        levels = [0.95]
        [overrides.MSFT.train]
        epochs = 9
        [overrides.MSFT.retrain]
        new_sessions = 0
        """
    )
    config = parse(data)
    aapl, msft = config.plan("AAPL"), config.plan("MSFT")
    assert aapl.levels == (0.5, 0.9)
    assert aapl.horizon == 3
    assert dict(aapl.train) == {"epochs": 4, "horizon": 5, "features": ["log_return"]}
    assert aapl.retrain == RetrainPolicy(every_days=1, new_sessions=5)
    assert msft.levels == (0.95,)
    assert dict(msft.train) == {"epochs": 9, "horizon": 5, "features": ["log_return"]}
    assert msft.retrain == RetrainPolicy(every_days=1, new_sessions=0)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"symbols": ["AAPL"], "symbol": ["X"]}, "unknown key `symbol`"),
        ({"symbols": ["AAPL"], "train": {"epoch": 3}}, "unknown key `epoch`"),
        ({"symbols": ["AAPL"], "retrain": {"days": 3}}, "unknown key `days`"),
        ({"symbols": ["AAPL"], "overrides": {"AAPL": {"lvls": [0.9]}}}, "unknown key `lvls`"),
        ({"symbols": ["../evil"]}, "invalid symbol '../evil'"),
        ({"symbols": []}, "is empty"),
        ({"symbols": "AAPL"}, "must be a list of tickers"),
        ({}, "has no `symbols`"),
        ({"symbols": ["AAPL"], "levels": [0.9, 1.5]}, "between 0 and 1"),
        ({"symbols": ["AAPL"], "horizon": 0}, "`horizon`"),
        ({"symbols": ["AAPL"], "train": {"epochs": "ten"}}, "`epochs`"),
        ({"symbols": ["AAPL"], "train": {"epochs": True}}, "`epochs`"),
        ({"symbols": ["AAPL"], "retrain": {"every_days": -1}}, "`every_days`"),
        ({"symbols": ["AAPL"], "overrides": {"MSFT": {}}}, "not in `symbols`"),
        ({"symbols": ["AAPL"], "horizon": 9, "train": {"horizon": 5}}, "trained horizon 5"),
    ],
)
def test_bad_files_give_one_clear_line(data: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(data, where="my.toml")
    message = str(err.value)
    assert needle in message
    assert "\n" not in message
    assert err.value.exit_code == 2


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stockcast init"):
        load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("symbols = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)


def test_config_path(tmp_path: Path) -> None:
    assert config_path(tmp_path) == tmp_path / "stockcast.toml"
    assert config_path(tmp_path, Path("/x/y.toml")) == Path("/x/y.toml")


def test_example_parses_and_is_not_overwritten(tmp_path: Path) -> None:
    config = parse(tomllib.loads(EXAMPLE))
    assert config.symbols == ("MSFT",)
    path = write_example(tmp_path / "stockcast.toml")
    assert path.read_text() == EXAMPLE
    path.write_text('symbols = ["AAPL"]\n')
    with pytest.raises(ConfigError, match="--force"):
        write_example(path)
    assert path.read_text() == 'symbols = ["AAPL"]\n'
    write_example(path, force=True)
    assert path.read_text() == EXAMPLE


@pytest.mark.parametrize(
    ("policy", "age", "new", "due"),
    [
        (RetrainPolicy(7, 5), None, None, "no model yet"),
        (RetrainPolicy(7, 5), 7.0, 0, "7 days old"),
        (RetrainPolicy(7, 5), 6.9, 4, None),
        (RetrainPolicy(7, 5), 1.0, 5, "5 new sessions"),
        (RetrainPolicy(0, 0), 100.0, 100, None),
        (RetrainPolicy(0, 0), None, None, "no model yet"),
    ],
)
def test_retrain_policy(policy: RetrainPolicy, age, new, due) -> None:
    reason = policy.reason(age_days=age, new_sessions=new)
    if due is None:
        assert reason is None
    else:
        assert due in reason


def test_the_forecast_horizon_is_the_trained_horizon_unless_set() -> None:
    assert dict(parse({"symbols": ["A"], "horizon": 3}).plan("A").train) == {"horizon": 3}
    config = parse({"symbols": ["A"], "horizon": 3, "train": {"horizon": 5}})
    assert dict(config.plan("A").train) == {"horizon": 5}
