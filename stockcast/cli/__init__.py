"""Command-line interface. Each command group lives in its own module and registers on ``app``."""

from __future__ import annotations

# Importing a command module registers its commands, in this order in `--help`: the data, the
# models, the forecasts, the scheduled job. Each keeps heavy imports inside its functions.
# isort: off
from stockcast.cli import fetch, train, backtest, tune, models, predict, schedule, info  # noqa: F401

# isort: on
import typer

from stockcast.cli.app import app


def main() -> None:
    """Entry point of the ``stockcast`` console script.

    Usage errors (an unknown command, a bad option value) become one line on stderr and exit 2,
    like every other error, instead of Click's boxed panel.
    """
    import os
    import sys
    import warnings

    from stockcast import allocator
    from stockcast.cli.app import error_line, hoist_global_options

    if sys.stdout is None:  # started with stdout closed (`>&-`): say so instead of a traceback
        error_line("standard output is closed; redirect it to a file or /dev/null instead")
        sys.exit(1)
    allocator.tune()  # CPU training speed (allocator.py); this process only
    # Libraries' own warnings (matplotlib, pandas, yfinance, optuna deprecations) are for their
    # developers: they would break `--quiet` in cron mail. STOCKCAST_WARNINGS=1 shows them.
    if os.environ.get("STOCKCAST_WARNINGS") != "1":
        warnings.filterwarnings("ignore")
    try:
        code = app(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
    except BrokenPipeError:  # the reader went away (`stockcast list | head -1`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except typer.Abort:  # end of input at a prompt
        error_line("aborted")
        sys.exit(1)
    except Exception as exc:
        if not _is_usage_problem(exc):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `stockcast`: the help text
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        error_line(f"{exc.format_message()}{hint}")  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    _exit(code if isinstance(code, int) else 0)


def _exit(code: int) -> None:
    """``sys.exit(code)``; ``os._exit`` after flushing when Ctrl-C left a training member inside
    a long batch (``training.recipe.run_members``): the interpreter's teardown would wait for
    its kernel, then abort."""
    import os
    import sys
    import threading

    if any(t.daemon and t.name.startswith("member-") for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _is_usage_problem(exc: BaseException) -> bool:
    """Click's own errors (unknown command, bad option value, no arguments), recognised by what
    they offer rather than by importing Click's exception classes: Typer vendors Click in a
    private module (``typer._click``) since 0.25, and plain Click before that."""
    return all(hasattr(exc, a) for a in ("format_message", "show", "exit_code"))


__all__ = ["app", "main"]
