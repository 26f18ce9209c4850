"""Checks that keep the architecture so (ARCHITECTURE.md, "Checks").

Imports sit at the top of a module, where a reader sees what it depends on and `lint-imports` sees
the same graph as Python; only `stockcast/cli/` imports inside functions, so that `stockcast --help`
stays fast. The layer and library contracts themselves are in pyproject.toml (`lint-imports`).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "stockcast"
EXEMPT_DIR = "stockcast/cli/"  # commands import their heavy dependencies when they run

# path -> (top-level packages it may import inside functions, why). Keep each entry justified.
LAZY: dict[str, tuple[frozenset[str], str]] = {
    "stockcast/data/sources/yahoo.py": (
        frozenset({"yfinance", "curl_cffi"}),
        # data/ingest.py and schedule/steps.py import this module for its names (YahooSource,
        # Backoff, PACE_SECONDS); yfinance and curl_cffi cost ~0.4 s over pandas, paid only when
        # Yahoo is actually asked, not by `fetch --source csv` or the tests of other sources.
        "yfinance only when Yahoo is asked",
    ),
    "stockcast/data/calendar.py": (
        frozenset({"exchange_calendars"}),
        # the library and its rules cost 1-3 s; `predict` and `run` answer from the session
        # table cached under <data>/cache/calendars/, so only a (re)build of it imports them.
        "exchange_calendars only when a session table is built",
    ),
    "stockcast/forecasting/forecast.py": (
        frozenset({"torch", "stockcast.device", "stockcast.models.base"}),
        # `predict` and `run` forecast through models/numpy_infer.py without torch (~2 s);
        # torch, models.base and device only for the reference route and architectures
        # without a numpy forward.
        "torch only when a model has no numpy forward",
    ),
    "stockcast/forecasting/evaluation.py": (
        frozenset({"torch", "stockcast.device", "stockcast.models.base"}),
        # `evaluate` scores the test predictions `train` kept in the model file (~1.4 s CPU
        # against ~4 s with torch); torch only when the weights run again (`train`, `--recompute`,
        # inputs whose digest changed, models saved before the predictions were kept).
        "torch only when the saved weights run again",
    ),
    "stockcast/forecasting/garch.py": (
        frozenset({"arch"}),
        # importing arch (with scipy.stats and statsmodels) costs about a second; `evaluate`
        # reads the GARCH scales `train` kept, so only a fit imports it.
        "arch only when GARCH is fitted",
    ),
    "stockcast/models/store.py": (
        frozenset({"torch", "safetensors.torch", "stockcast.models.base"}),
        # `predict` reads weights with safetensors' numpy loader (load_numpy); torch only when a
        # model is saved or loaded as torch modules (train, evaluate, the torch route; scale
        # networks of an architecture without a numpy forward).
        "torch only to save or load torch modules",
    ),
}

HEAVY = ("torch", "pandas", "yfinance", "numpy")


def _modules() -> list[str]:
    paths = (p.relative_to(ROOT).as_posix() for p in sorted(PACKAGE.rglob("*.py")))
    return [p for p in paths if not p.startswith(EXEMPT_DIR)]


def _local_imports(rel: str) -> list[tuple[int, str]]:
    """(line, module) of each import statement inside a function of ``rel``."""
    tree = ast.parse((ROOT / rel).read_text(encoding="utf-8"), filename=rel)
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                found += [(node.lineno, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                found.append((node.lineno, node.module or "." if node.level == 0 else "."))
    return sorted(set(found))


@pytest.mark.parametrize("rel", _modules())
def test_imports_at_module_level(rel: str) -> None:
    allowed = LAZY.get(rel, (frozenset(), ""))[0]
    bad = [f"{rel}:{line} imports {mod}" for line, mod in _local_imports(rel)
           if not _covered(mod, allowed)]  # fmt: skip
    assert not bad, "move these imports to the top of the module:\n" + "\n".join(bad)


@pytest.mark.parametrize("rel", sorted(LAZY))
def test_lazy_allowlist_is_used(rel: str) -> None:
    allowed = LAZY[rel][0]
    used = [mod for _, mod in _local_imports(rel)] if (ROOT / rel).is_file() else []
    unused = sorted(a for a in allowed if not any(_covered(m, {a}) for m in used))
    assert not unused, f"{rel} no longer imports {unused} lazily: drop it"


def _covered(module: str, allowed: frozenset[str] | set[str]) -> bool:
    """``module`` is an allowed entry or inside one (``yfinance.exceptions`` in ``yfinance``)."""
    return any(module == a or module.startswith(a + ".") for a in allowed)


def test_help_imports_nothing_heavy() -> None:
    """`stockcast --help` answers without torch, pandas, yfinance or numpy."""
    code = (
        "import sys\n"
        "sys.argv = ['stockcast', '--help']\n"
        "from stockcast.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY=", out.stdout.splitlines()[-1]


# --- ARCHITECTURE.md's module map names every module, and only modules that exist -----------


def _named_modules(text: str) -> set[str]:
    """Paths (relative to stockcast/) that the first column of the "Modules" table names: each
    backticked ``*.py``; a bare file name after a path in the same cell is in that path's folder
    (`models/store.py`, `catalog.py` -> models/catalog.py)."""
    section = text.split("## Modules", 1)[1].split("\n## ", 1)[0]
    named = set()
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        folder = ""
        for token in line.split("|")[1].split("`")[1::2]:
            if not token.endswith(".py"):
                continue
            if "/" in token:
                folder = token.rsplit("/", 1)[0] + "/"
                named.add(token)
            else:
                named.add(folder + token)
    return named


def _code_modules() -> set[str]:
    """Every module under stockcast/, but packages' ``__init__.py`` that hold a docstring only."""
    out = set()
    for path in PACKAGE.rglob("*.py"):
        body = ast.parse(path.read_text()).body
        if path.name == "__init__.py" and all(
            isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) for s in body
        ):
            continue
        out.add(path.relative_to(PACKAGE).as_posix())
    return out


def test_architecture_names_every_module_and_only_existing_ones() -> None:
    named = _named_modules((ROOT / "ARCHITECTURE.md").read_text())
    modules = _code_modules()
    assert sorted(modules - named) == [], "modules missing from ARCHITECTURE.md's module table"
    assert sorted(named - modules) == [], "ARCHITECTURE.md names modules that do not exist"


def test_the_module_map_reader_expands_folders() -> None:
    text = "## Modules\n| `data/sources/yahoo.py`, `csvfile.py` | x |\n| `errors.py` | y |\n## X\n"
    assert _named_modules(text) == {
        "data/sources/yahoo.py",
        "data/sources/csvfile.py",
        "errors.py",
    }
