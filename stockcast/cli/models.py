"""`stockcast models`: list saved models, show one, remove one, prune old ones."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockcast.cli.app import STATE, app, counted, handles_errors, print_json, stderr, stdout
from stockcast.cli.flags import JsonOpt, QuietOpt
from stockcast.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from stockcast.models.catalog import Entry

models_app = typer.Typer(
    help="Saved models: list them, show one, remove one, prune old ones.\n\n"
    "Example: [bold]stockcast models --json[/]",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(models_app, name="models")

NameOpt = Annotated[
    str | None,
    typer.Argument(help="A model name (a symbol for per-symbol models); default: all.",
                   show_default=False),
]  # fmt: skip
RefArg = Annotated[
    str, typer.Argument(help="A model id (or a unique start of one), NAME or NAME:ID.")
]


@models_app.callback()
@handles_errors
def models_list(ctx: typer.Context, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """List saved models: id (it starts with the creation time), name, data, epochs, members,
    test skill, the default (*).

    Example: [bold]stockcast models[/] · [bold]stockcast models prune MSFT --keep 3[/]
    """
    if ctx.invoked_subcommand is not None:
        return
    from stockcast.models import catalog

    items = catalog.entries(STATE.data_dir)
    if as_json:
        print_json([e.to_dict() for e in items])
        return
    if quiet:
        return
    if not items:
        stdout().print(
            f"no saved models in {STATE.data_dir}; run `stockcast train SYMBOL`", markup=False
        )
        return
    from stockcast.cli.tables import print_table

    con = stdout()
    print_table(con, models_table(items), keys=2)  # the default mark and the id start each part
    s = catalog.summary(items)
    con.print(
        f"{counted(s['models'], 'model')} of {counted(s['names'], 'name')}, "
        f"{s['bytes'] / 2**20:.1f} MiB in "
        f"{STATE.data_dir}; * = default (used without --model)",
        markup=False,
    )


def models_table(items: list[Entry]) -> Table:
    """One row per model, the default mark and the id first (``print_table(..., keys=2)``
    repeats them in every part of a table too wide for the console); a global model's name is
    followed by its symbols, which wrap between them."""
    from rich import box
    from rich.table import Table

    table = Table(
        box=box.SIMPLE_HEAD, caption_justify="left", collapse_padding=True, pad_edge=False
    )
    right = ("Epochs", "Members", "vs best h1")  # evaluate's "Skill" is vs persistence
    table.add_column("", no_wrap=True)
    table.add_column("Id", no_wrap=True)
    table.add_column("Name", overflow="fold")  # free text: a global model's symbols wrap
    for col in ("Arch", "Data to", *right):  # no Created: the id starts with that time
        table.add_column(col, no_wrap=True, justify="right" if col in right else "left")
    for e in items:
        skill = "n/a" if e.skill_vs_best is None else f"{e.skill_vs_best:+.2%}"
        epochs = "?" if e.epochs is None else str(e.epochs) + ("!" if e.interrupted else "")
        shown = e.display_name or e.name
        name = shown if e.symbols in ((), (e.name,)) else f"{shown} ({', '.join(e.symbols)})"
        table.add_row("*" if e.default else "", e.id, name, e.arch, e.data_end or "?", epochs,
                      str(e.members), skill if e.error is None else "damaged")  # fmt: skip
    notes = ["vs best h1 = test skill at h=1 against the naive forecast best on validation "
             "(`evaluate`'s vs best)"]  # fmt: skip
    if any(e.interrupted for e in items):
        notes.append("! = training was interrupted; the best epoch so far was kept")
    if any(e.error is not None for e in items):
        notes.append("damaged = cannot be used (never the default); `stockcast models prune` "
                     "removes it")  # fmt: skip
    table.caption = "\n".join(notes)
    return table


@models_app.command("show")
@handles_errors
def models_show(model_id: RefArg, as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Show one model's manifest (an id, a unique start of one, NAME for its default model,
    or NAME:ID): architecture, options, data, split, test metrics.

    Example: [bold]stockcast models show 20261129T160758[/]
    """
    from stockcast.models import catalog

    manifest = catalog.show(STATE.data_dir, model_id)
    if as_json:
        print_json(manifest.to_json())
        return
    if quiet:
        return
    con = stdout()
    one = manifest.series[0] if len(manifest.series) == 1 and not manifest.is_global else None
    t = manifest.training
    rows: list[tuple[str, Any]] = [
        ("id", manifest.id), ("name", manifest.name), ("display_name", manifest.display_name),
        ("symbols", manifest.symbols), ("arch", manifest.arch), ("created", manifest.created),
        ("trained_through", one and one.trained_through), ("data_end", one and one.data_end),
        ("epochs", t.epochs), ("best_epoch", t.best_epoch),
        ("interrupted", manifest.interrupted), ("seed", t.seed), ("device", t.device),
    ]  # fmt: skip
    for key, value in rows:
        if value is not None:
            con.print(f"{key:>16}  {_plain(value)}", markup=False)
    configs = (("model_config", manifest.model_config), ("data_config", asdict(manifest.data)),
               ("train_config", manifest.train_config))  # fmt: skip
    for key, table in configs:
        text = ", ".join(f"{k}={_plain(v)}" for k, v in table.items())
        con.print(f"{key:>16}  {text}", markup=False)
    report = None if one is None else one.test_metrics
    summary = (report or {}).get("summary")
    if summary:
        con.print(f"{'test':>16}  {summary}", markup=False)


def _plain(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@models_app.command("rm")
@handles_errors
def models_rm(
    ref: RefArg,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove it even when it is a default model.")
    ] = False,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove one saved model: an id (or a unique start of it), NAME (its default model) or
    NAME:ID. Removing a default model (the one `predict` uses) asks first, or needs --yes.

    Example: [bold]stockcast models rm 20261129T160758-859215[/]
    """
    from stockcast.models import catalog

    name, mid = catalog.resolve(STATE.data_dir, ref)
    if catalog.is_default(STATE.data_dir, name, mid) and not yes:
        what = f"model {mid} is the default model of {name} (the one `predict {name}` uses)"
        if not sys.stdin.isatty():
            raise UsageError(f"{what}; add --yes to remove it")
        typer.confirm(f"{what}; remove it?", abort=True, err=True)
    catalog.remove(STATE.data_dir, name, mid)
    if as_json:
        print_json({"removed": [{"name": name, "id": mid}]})
    elif not quiet:
        stderr().print(f"removed model {mid} of {name}", markup=False)


@models_app.command("prune")
@handles_errors
def models_prune(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A model name (a symbol for per-symbol models), or one of its "
            "model ids; default: every name.",
            show_default=False,
        ),
    ] = None,
    keep: Annotated[int, typer.Option("--keep", help="Newest models to keep (at least 1).")] = 3,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove all but the newest --keep whole models of NAME (of every name without one);
    damaged models go first, and the default model is always kept.

    Example: [bold]stockcast models prune MSFT --keep 1[/]
    """
    from stockcast.models import catalog

    gone = catalog.prune(STATE.data_dir, name, keep)
    if as_json:
        print_json({"removed": [{"name": n, "id": i, "damaged": d} for n, i, d in gone]})
        return
    if quiet:
        return
    labels = sorted({n for n, _, _ in gone})
    for label in labels:
        mine = [d for n, _, d in gone if n == label]
        damaged = f" ({sum(mine)} damaged)" if any(mine) else ""
        stderr().print(f"removed {len(mine)} model{'s' if len(mine) != 1 else ''} of {label}"
                       f"{damaged}", markup=False)  # fmt: skip
    if not gone:
        stderr().print(f"nothing to prune{f' for {name.strip()}' if name else ''}", markup=False)
