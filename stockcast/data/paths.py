"""Where things live: the data directory and the per-symbol paths inside it.

Symbols are validated here, before anything touches the disk, so that no accepted symbol can
name a path outside the data directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from stockcast.data.fsutil import loop_in, stored_dir
from stockcast.errors import UnsafeFile, UsageError

ENV_HOME = "STOCKCAST_HOME"
DEFAULT_HOME = Path("data")
SYMBOL_MAX_LEN = 20
_SYMBOL_RE = re.compile(r"^[A-Z0-9\-^=_][A-Z0-9.\-^=_]*$")  # ASCII; no leading dot (hidden file)


def data_dir(option: str | os.PathLike[str] | None = None) -> Path:
    """The data directory: the ``--data-dir`` option, else ``$STOCKCAST_HOME``, else ``./data``."""
    if option:
        return Path(option).expanduser()
    env = os.environ.get(ENV_HOME)
    if env:
        return Path(env).expanduser()
    return DEFAULT_HOME


def data_dir_source(option: str | os.PathLike[str] | None = None) -> str:
    """How ``data_dir(option)`` chose the directory, in words (for `stockcast info` and the
    "nothing stored" errors)."""
    if option:
        return "the --data-dir option"
    if os.environ.get(ENV_HOME):
        return f"the {ENV_HOME} environment variable"
    return f"the default ./{DEFAULT_HOME} under the current folder"


def normalize_symbol(raw: str) -> str:
    """Upper-case and check a ticker symbol; raise UsageError naming the rule it breaks.

    >>> normalize_symbol("brk-b")
    'BRK-B'
    """
    stripped = (raw or "").strip()
    # check before upper-casing: "ß".upper() is "SS", "ı" and "ﬁ" fold into I and FI
    ascii_only = stripped.isascii()
    sym = stripped.upper() if ascii_only else stripped
    if not sym:
        raise UsageError("empty symbol; give a ticker such as AAPL")
    if len(sym) > SYMBOL_MAX_LEN:
        raise UsageError(f"symbol {raw!r} is longer than {SYMBOL_MAX_LEN} characters")
    if not ascii_only or not _SYMBOL_RE.match(sym):
        raise UsageError(
            f"invalid symbol {raw!r}; use ASCII letters, digits and . - ^ = _ only, not "
            "starting with a dot (for example BRK-B, ^GSPC)"
        )
    return sym


def symbol_file(root: Path, symbol: str, folder: str, suffix: str) -> Path:
    """``root/folder/SYMBOL+suffix`` for a validated symbol, checked to stay inside ``root``."""
    sym = normalize_symbol(symbol)
    try:
        base = (root / folder).resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a loop
        loop = loop_in(root / folder) or root / folder
        raise UnsafeFile(
            f"{loop} is a symbolic link loop; remove the link, or point --data-dir elsewhere"
        ) from None
    path = base / f"{sym}{suffix}"  # a link here is followed, and checked, by its reader
    if path.parent != base:
        raise UsageError(f"invalid symbol {symbol!r}")
    return path


def symbols_in(root: Path, folder: str) -> list[str]:
    """Sorted symbols with a ``root/folder/SYMBOL.parquet`` file (temporary ``.`` files aside)."""
    base = Path(root) / folder
    if not stored_dir(base, root, "remove the link, or point --data-dir elsewhere"):
        return []
    return sorted(p.stem for p in base.glob("*.parquet") if not p.name.startswith("."))
