"""The Typer application, its global options, and the error edge shared by every command.

Imports here stay light (typer, rich): `stockcast --help` must not import torch, pandas or
yfinance. Command modules import heavy libraries inside their functions.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from stockcast import __version__
from stockcast.data.paths import data_dir, data_dir_source
from stockcast.errors import EXIT_ERROR, EXIT_INTERRUPTED, NoModel, NoPrices, StockcastError

app = typer.Typer(
    name="stockcast",
    help="Honest LSTM stock forecasts: fetch prices, train, evaluate against naive baselines, "
    "and forecast the next trading sessions.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@dataclass
class State:
    """Global options, set by the callback before any command runs."""

    data_dir: Path = Path("data")
    data_dir_from: str = "the default"  # how it was chosen (paths.data_dir_source)


STATE = State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"stockcast {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    data_dir_opt: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Data directory (default ./data). Also the STOCKCAST_HOME environment variable; "
            "this option wins.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    STATE.data_dir = data_dir(data_dir_opt)
    STATE.data_dir_from = data_dir_source(data_dir_opt)


GLOBAL_OPTIONS = ("--data-dir",)  # options of the top level that take one value


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move a global option given after the command (``stockcast list --data-dir X``) in front of
    it, where Click expects it; everything else keeps its order."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS:
            take = 1 if "=" in arg else 2
            front += argv[i : i + take]
            i += take
            continue
        rest.append(arg)
        i += 1
    return front + rest


PIPE_WIDTH = 120  # columns when stdout is a pipe or a file (cron mail) and COLUMNS is unset


def stdout() -> Console:
    """Console for results; no colours or spinners when stdout is not a terminal.

    Piped output gets ``PIPE_WIDTH`` columns instead of rich's 80, so that wide tables (the
    interval table has eight columns) are not cut with ellipses in logs and cron mail.
    """
    import os

    width = None
    if not sys.stdout.isatty() and not os.environ.get("COLUMNS"):
        width = PIPE_WIDTH
    return Console(highlight=False, soft_wrap=False, width=width)


def stderr() -> Console:
    """Console for warnings and errors; a message stays on one line (never wrapped)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    """Plain JSON on stdout (no rich markup), for machines."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/] {message}", markup=True)


def error_line(message: str) -> None:
    """One red line on stderr. Markup in ``message`` is not interpreted."""
    con = stderr()
    con.print("[bold red]error:[/] ", end="", markup=True)
    con.print(message, markup=False)


F = TypeVar("F", bound=Callable[..., Any])


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or exc.__class__.__name__
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"cannot access{where}: {what}; check the path, its permissions and the free space, "
        "or choose another place (--data-dir, STOCKCAST_HOME)"
    )


def where_hint(exc: BaseException) -> str:
    """For "nothing stored" errors: the directory that was searched and how to point elsewhere
    (from another folder, ./data is not where the user's data is)."""
    if not isinstance(exc, NoPrices | NoModel):
        return ""
    return (
        f" (looked in {STATE.data_dir}, from {STATE.data_dir_from}; point elsewhere with "
        "--data-dir or STOCKCAST_HOME)"
    )


def handles_errors(fn: F) -> F:
    """Turn domain errors into one clear line and their exit code; Ctrl-C into exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StockcastError as exc:
            error_line(str(exc) + where_hint(exc))
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # disk full, permission denied, a file where a folder should be
            error_line(_os_error_message(exc))
            raise typer.Exit(EXIT_ERROR) from None
        except KeyboardInterrupt:
            error_line("interrupted; nothing half-written was kept")
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper  # type: ignore[return-value]
