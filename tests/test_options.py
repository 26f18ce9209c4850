"""Training options are declared once (stockcast/options.py); the flags, the [train] table of
stockcast.toml and the `stockcast init` example derive from them and cannot drift."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields

import pytest
from typer.testing import CliRunner

from stockcast import options
from stockcast.cli import app
from stockcast.errors import UsageError
from stockcast.schedule.config import EXAMPLE, ConfigError, parse


def _example_train_lines() -> dict[str, str]:
    """{key: value text} of the commented-out lines of the example's [train] table."""
    section = EXAMPLE.split("[train]\n", 1)[1].split("\n\n", 1)[0]
    out = {}
    for line in section.splitlines():
        m = re.match(r"# (\w+) = (.+?)  # ", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_the_init_example_shows_every_option_at_its_true_default() -> None:
    shown = _example_train_lines()
    assert set(shown) == set(options.SPECS)
    for name, text in shown.items():
        if name == "test_start":  # no default: the example shows a date to copy
            continue
        value = tomllib.loads(f"v = {text}")["v"]
        default = options.SPECS[name].default
        assert (tuple(value) if isinstance(value, list) else value) == default, name


def test_every_example_line_uncommented_is_a_valid_config() -> None:
    body = "\n".join(f"{k} = {v}" for k, v in _example_train_lines().items())
    config = parse(tomllib.loads(f'symbols = ["MSFT"]\n[train]\n{body}\n'))
    assert dict(config.plan("MSFT").train)["hidden"] == 64


def test_the_defaults_are_the_dataclass_defaults() -> None:
    for section in options.SECTIONS:
        instance = section()
        for f in fields(section):
            if f.name in options.SPECS:
                assert options.SPECS[f.name].default == getattr(instance, f.name)


def test_train_help_shows_every_option_with_its_default() -> None:
    out = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).stdout
    text = " ".join(out.replace("│", " ").split())
    for spec in options.SPECS.values():
        assert spec.flag in text
        if spec.default is not None and spec.name != "features":
            assert f"(default {options.format_default(spec.default)})" in text, spec.name


def test_feature_defaults_match_the_registry() -> None:
    from stockcast.prep import features

    assert options.DEFAULT_FEATURES == features.DEFAULT_FEATURES


def test_arch_names_match_the_model_registry() -> None:
    from stockcast import models

    assert set(options.ARCHS) == set(models.REGISTRY)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"lookback": 1}, "--lookback must be between 2 and 5000"),
        ({"hidden": 10**20}, "--hidden must be between 1 and 4096"),
        ({"seed": 10**20}, "--seed must be between 0"),
        ({"lr": float("inf")}, "--lr must be in"),
        ({"lr": 1e30}, "--lr must be in"),
        ({"dropout": 1.0}, "--dropout must be in"),
        ({"epochs": "3"}, "--epochs must be int"),
        ({"loss": "mse"}, "--loss must be huber or l1"),
        ({"arch": "rnn"}, "--arch must be one of"),
        ({"val_frac": 0.6, "test_frac": 0.5}, "sum below 1"),
        ({"features": ","}, "--features is empty"),
        ({"nope": 1}, "unknown training option nope"),
    ],
)
def test_bad_values_are_refused_before_anything_is_built(given, message) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        options.check(given)


def test_config_file_values_get_the_same_checks_named_by_key() -> None:
    with pytest.raises(ConfigError, match=r"`batch_size` must be between 1 .* in stockcast.toml"):
        parse({"symbols": ["A"], "train": {"batch_size": 0}})
    with pytest.raises(ConfigError, match=r"`lr` must be in"):
        parse({"symbols": ["A"], "train": {"lr": 1e30}})


def test_bad_flag_values_exit_2_with_one_line(stockcast_home) -> None:
    res = CliRunner().invoke(app, ["train", "MSFT", "--hidden", "0"])
    assert res.exit_code == 2
    assert "--hidden must be between 1 and 4096" in res.stderr
