"""Command-line interface. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

# Importing a command module registers its commands, in this order in `--help`: the data, the
# models, the forecasts, the scheduled job. Each keeps heavy imports inside its functions.
# isort: off
from stockcast.cli import fetch, train, backtest, models, predict, schedule, info  # noqa: F401

# isort: on
from stockcast.cli.app import app


def main() -> None:
    """Entry point of the ``stockcast`` console script.

    Usage errors (an unknown command, a bad option value) become one line on stderr and exit 2,
    like every other error, instead of Click's boxed panel.
    """
    import sys

    try:  # typer >= 0.25 vendors click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError
    except ImportError:  # pragma: no cover - older typer on click
        from click.exceptions import ClickException, NoArgsIsHelpError

    from stockcast import allocator
    from stockcast.cli.app import error_line, hoist_global_options

    allocator.tune()  # CPU training speed (allocator.py); this process only
    try:
        code = app(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
    except NoArgsIsHelpError as exc:  # bare `stockcast`: the help text, as before
        exc.show()
        sys.exit(exc.exit_code)
    except ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error_line(f"{exc.format_message()}{hint}")
        sys.exit(exc.exit_code)
    except RuntimeError as exc:  # typer's Abort (end of input at a prompt)
        if type(exc).__name__ != "Abort":
            raise
        error_line("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
