"""Command-line interface. Each command lives in its own module and registers on ``app``."""

from __future__ import annotations

from stockcast.cli import fetch as _fetch  # noqa: F401  (registers fetch, list)
from stockcast.cli.app import app


def main() -> None:
    """Entry point of the ``stockcast`` console script."""
    app()


__all__ = ["app", "main"]
