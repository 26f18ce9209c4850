"""The Typer application, its global options, and the error edge shared by every command.

Imports here stay light (typer, rich): `stockcast --help` must not import torch, pandas or
yfinance. Command modules import heavy libraries inside their functions.
"""

from __future__ import annotations

import difflib
import functools
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer.core import TyperOption

from stockcast import __version__
from stockcast.data.paths import data_dir, data_dir_source
from stockcast.eachsymbol import Batch
from stockcast.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    NoConfig,
    NoModel,
    NoPrices,
    StockcastError,
    UsageError,
    printable,
)

app = typer.Typer(
    name="stockcast",
    help="Honest LSTM stock forecasts: fetch prices, train, evaluate against naive baselines, "
    "and forecast the next trading sessions.\n\n"
    "Example: [bold]stockcast fetch --sample && stockcast train MSFT && "
    "stockcast predict MSFT --plot msft.png[/]",
    rich_markup_mode="rich",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _flag_type(self: TyperOption, ctx: Any) -> str | None:
    """The type column of `--help`: none for a flag (typer would show ``<bool>``)."""
    return None if self.is_flag else _option_type(self, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_type  # type: ignore[method-assign]  # every command


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

    Piped output gets ``PIPE_WIDTH`` columns instead of rich's 80 for tables (or ``COLUMNS``),
    sentences are not wrapped at all (a reader or a pager wraps them) and lines carry no
    trailing spaces, so logs, cron mail and ``grep`` see whole lines.
    """
    import os

    if sys.stdout.isatty():
        return Console(highlight=False, soft_wrap=False)
    width = None if os.environ.get("COLUMNS") else PIPE_WIDTH
    trimmed: Any = _TrimmedStdout()  # a text stream: what Console writes to
    return Console(highlight=False, soft_wrap=True, width=width, file=trimmed)


class _TrimmedStdout(io.TextIOBase):
    """``sys.stdout`` (whatever it is at the time of writing) without spaces at line ends."""

    _TRAILING = re.compile(r"[ \t]+(?=\n)")

    def write(self, text: str) -> int:
        sys.stdout.write(self._TRAILING.sub("", text))
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(sys.stdout, "encoding", None) or "utf-8"


def stderr() -> Console:
    """Console for warnings and errors: on a terminal, wrapped between words at its width;
    elsewhere (cron mail, logs, pipes) a message stays on one line, never wrapped."""
    con = Console(stderr=True, highlight=False)
    con.soft_wrap = not con.is_terminal
    return con


def print_json(obj: Any) -> None:
    """Plain JSON on stdout (no rich markup), for machines."""
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def check_model_option(symbol: str, model: str | None) -> None:
    """UsageError (exit 2) when ``--model`` names a model that does not exist: a typo in an
    option is bad usage, not a failed command. An id is checked when the model is loaded."""
    from stockcast.models.store import list_models, model_ref

    if model is None:
        return
    name, _ = model_ref(symbol, model)
    if name != symbol and not list_models(STATE.data_dir, name):
        raise UsageError(
            f"--model {model}: no saved model is named {name}; `stockcast models` lists them"
        )


def error_object(symbol: str, exc: BaseException | None) -> dict[str, str]:
    """A failed symbol in a JSON array of results: ``{"ticker": ..., "error": ...}``."""
    return {"ticker": symbol, "error": str(exc)}


T = TypeVar("T")


def end_batch(
    batch: Batch[T],
    as_json: bool,
    quiet: bool,
    render: Callable[[T, Console], None],
    to_json: Callable[[T], Any] | None = None,
) -> None:
    """Print what a batch of symbols made, then exit with the batch's code when it is not 0.

    --json: an array, one object per symbol reached (``to_json`` of the value; a failed one is
    ``{"ticker", "error"}``); else each value rendered, a blank line between; nothing when quiet.
    """
    if as_json:
        print_json(
            [
                error_object(o.symbol, o.error)
                if o.value is None
                else (o.value if to_json is None else to_json(o.value))
                for o in batch.outcomes
                if o.value is not None or o.error is not None
            ]
        )
    elif not quiet:
        con = stdout()
        for i, value in enumerate(batch.values):
            if i:
                con.print()
            render(value, con)
    if batch.exit_code:
        raise typer.Exit(batch.exit_code)


def counted(n: int, noun: str) -> str:
    """``1 model``, ``2 models``: a count with its noun in the right number."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def wrote(path: Path | str) -> None:
    """Confirm a written output file on stderr: ``wrote msft.png``."""
    stderr().print(f"wrote {path}", markup=False)


def warn(message: str) -> None:
    """A yellow ``warning:`` line on stderr (wrapped under its text on a terminal)."""
    _labelled("warning:", "yellow", message)


def error_line(message: str) -> None:
    """One red line on stderr (wrapped under its text on a terminal). Markup in ``message``
    is not interpreted; control characters from files are escaped (``errors.printable``)."""
    _labelled("error:", "bold red", message)


def _labelled(label: str, style: str, message: str) -> None:
    from rich.text import Text

    con = stderr()
    text = Text(printable(message))
    if con.soft_wrap:  # not a terminal: one line
        con.print(Text(label, style=style), text)
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 1, 0, 0))  # continuation lines start under the message
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    grid.add_row(Text(label, style=style), text)
    con.print(grid)


F = TypeVar("F", bound=Callable[..., Any])


def _os_error_message(exc: OSError) -> str:
    what = exc.strerror or exc.__class__.__name__
    where = f" {exc.filename}" if exc.filename else ""
    return (
        f"cannot access{where}: {what}; check the path, its permissions and the free space, "
        "or choose another place (--data-dir, STOCKCAST_HOME)"
    )


def where_hint(exc: BaseException) -> str:
    """For "nothing stored" errors (and no config file for `run`): a stored symbol close to the
    one asked for, the directory that was searched and how to point elsewhere (from another
    folder, ./data is not where the user's data is)."""
    if not isinstance(exc, NoPrices | NoModel | NoConfig):
        return ""
    close = "" if isinstance(exc, NoConfig) else did_you_mean(exc)
    return close + (
        f" (looked in {STATE.data_dir}, from {STATE.data_dir_from}; point elsewhere with "
        "--data-dir or STOCKCAST_HOME)"
    )


_ASKED = re.compile(r"^no (?:prices stored|model) for (\S+?)[;:,]")  # the symbol in the message


def did_you_mean(exc: NoPrices | NoModel) -> str:
    """ "; did you mean MSFT?" when a stored symbol (prices) or model name is close to the one
    in the message; "" otherwise."""
    from stockcast.data.store import PriceStore

    asked = _ASKED.match(str(exc))
    if asked is None:
        return ""
    try:
        if isinstance(exc, NoPrices):
            known = PriceStore(STATE.data_dir).symbols()
        else:
            root = STATE.data_dir / "models"  # one folder per model name
            known = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    except (OSError, StockcastError):  # an unreadable or unsafe store: no suggestion
        return ""
    close = difflib.get_close_matches(asked.group(1), known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close and close[0] != asked.group(1) else ""


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
