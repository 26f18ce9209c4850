"""`stockcast info`: where stockcast looks, what it holds, and what it runs on."""

from __future__ import annotations

import platform
from typing import Any

from stockcast.cli.app import STATE, app, counted, handles_errors, print_json, stdout
from stockcast.cli.flags import JsonOpt, QuietOpt


@app.command()
@handles_errors
def info(as_json: JsonOpt = False, quiet: QuietOpt = False) -> None:
    """Show the data directory (and how it was chosen), the config file, what is stored, and
    the versions and devices in use.

    Example: [bold]stockcast --data-dir ~/stockcast-data info[/]
    """
    facts = gather()
    if as_json:
        print_json(facts)
        return
    if quiet:
        return
    con = stdout()
    rows = [
        ("data directory", f"{facts['data_dir']} (from {facts['data_dir_from']})"),
        ("exists", "yes" if facts["data_dir_exists"] else "no (created by the first fetch)"),
        ("config", f"{facts['config']} ({'present' if facts['config_exists'] else 'absent'})"),
        ("symbols stored", str(facts["symbols"])),
        ("models saved", f"{facts['models']} ({counted(facts['model_names'], 'name')})"),
        ("stockcast", facts["versions"]["stockcast"]),
        ("python", facts["versions"]["python"]),
        ("torch", facts["versions"]["torch"]),
        ("devices", ", ".join(facts["devices"])),
        ("price sources", ", ".join(src["name"] for src in facts["sources"])),
    ]
    for key, value in rows:
        con.print(f"{key:>15}  {value}", markup=False)
    con.print(
        "Point elsewhere with --data-dir PATH (before or after the command) or STOCKCAST_HOME.",
        markup=False,
    )


def gather() -> dict[str, Any]:
    """The facts `info` shows, as plain data (torch is imported: it reports the devices)."""
    import importlib.metadata as md

    import torch

    import stockcast
    from stockcast.data.paths import symbols_in
    from stockcast.data.sources.base import source_names
    from stockcast.models import catalog
    from stockcast.schedule.config import config_path

    root = STATE.data_dir
    cfg = config_path(root)
    names = catalog.names(root)
    n_models = len(catalog.entries(root)) if names else 0
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i} ({torch.cuda.get_device_name(i)})"
                    for i in range(torch.cuda.device_count())]  # fmt: skip
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        devices.append("mps")

    def version(pkg: str) -> str:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "not installed"

    return {
        "data_dir": str(root.resolve()),
        "data_dir_from": STATE.data_dir_from,
        "data_dir_exists": root.is_dir(),
        "config": str(cfg),
        "config_exists": cfg.is_file(),
        "symbols": len(symbols_in(root, "prices")),
        "models": n_models,
        "model_names": len(names),
        "devices": devices,
        "sources": [{"name": name} for name in source_names()],  # built-in and plugins'
        "versions": {
            "stockcast": stockcast.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            **{pkg: version(pkg) for pkg in ("pandas", "numpy", "yfinance", "typer")},
        },
    }
