"""Command-line interface. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

# Importing a command module registers its commands, in this order in `--help`: the data, the
# models, the forecasts, the scheduled job. Each keeps heavy imports inside its functions.
# isort: off
from stockcast.cli import fetch, train, predict, schedule  # noqa: F401

# isort: on
from stockcast.cli.app import app


def main() -> None:
    """Entry point of the ``stockcast`` console script."""
    app()


__all__ = ["app", "main"]
