"""Command-line interface. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

# Importing a command module registers its commands; each keeps heavy imports inside functions.
from stockcast.cli import fetch, predict, schedule, train  # noqa: F401
from stockcast.cli.app import app


def main() -> None:
    """Entry point of the ``stockcast`` console script."""
    app()


__all__ = ["app", "main"]
