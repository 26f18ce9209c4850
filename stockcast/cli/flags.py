"""The flags shared by the commands (``Annotated`` option types), and the `train` flags derived
from ``stockcast.options``.

``JsonOpt``, ``QuietOpt``, ``SymbolsArg`` and friends are reusable ``Annotated`` types (the `hf`
CLI's habit): a command declares ``as_json: JsonOpt = False`` and every command spells the flag
and its help the same way. ``training_options`` adds one flag per training option to a command,
built from the dataclass fields that declare it, so the flags, their defaults and their help can
never drift from what training uses.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

import typer

from stockcast import options

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines instead of tables.")]
SymbolsArg = Annotated[
    list[str], typer.Argument(help="One or more stored symbols.", show_default=False)
]
SymbolArg = Annotated[
    str, typer.Argument(help="A stored symbol (no trained model needed).", show_default=False)
]
ModelIdOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="A model id of the symbol's own models, a model name such as global (its "
        "newest model; an id has the shape 20261129T153000-ab12cd, so a name never reads as "
        "one), or NAME:ID (default: the symbol's own newest).",
        show_default=False,
    ),
]


QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress and no tables; errors and warnings only.")
]


F = TypeVar("F", bound=Callable[..., Any])


def training_options_helping(helps: Mapping[str, str]) -> Callable[[F], F]:
    """``training_options`` with other help texts for some options (option name -> help), for
    a command that reads an option its own way (`backtest --arch lstm,gru`)."""
    return functools.partial(training_options, helps=helps)


def training_options(fn: F, helps: Mapping[str, str] | None = None) -> F:
    """Give ``fn`` one keyword-only flag per training option (``--epochs``, ``--hidden``, ...);
    ``fn`` receives them together as ``options: dict`` (None for the ones not given)."""
    sig = inspect.signature(fn, eval_str=True)  # the command's own annotations, resolved
    params = [p for p in sig.parameters.values() if p.name != "options"]
    names = [s.name for s in options.SPECS.values()]
    for spec in options.SPECS.values():
        text = (helps or {}).get(spec.name, spec.help_with_default())
        ann = Annotated[
            spec.type | None,  # type: ignore[name-defined]  # a bool is a flag: --shrink
            typer.Option(spec.flag, help=text, show_default=False),
        ]
        params.append(inspect.Parameter(spec.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                        annotation=ann))  # fmt: skip
    params.sort(key=lambda p: p.kind)  # positional arguments before keyword-only options

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name, None) for name in names}
        return fn(*args, options=given, **kwargs)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
