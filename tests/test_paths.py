"""Data directory resolution and symbol checks: no accepted symbol can leave the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockcast.data.paths import data_dir, normalize_symbol, symbol_file
from stockcast.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("aapl", "AAPL"),
        (" brk-b ", "BRK-B"),
        ("^gspc", "^GSPC"),
        ("shel.l", "SHEL.L"),
        ("EURUSD=X", "EURUSD=X"),
    ],
)
def test_accepted_symbols(raw: str, expected: str) -> None:
    assert normalize_symbol(raw) == expected


@pytest.mark.parametrize(
    "raw",
    # issue 12: a leading dot (a hidden file `list` never shows) and letters that case-fold
    # into other ASCII symbols (ß -> SS, ı -> I, ﬁ -> FI)
    [
        "",
        "   ",
        "../x",
        "../../evil",
        "a/b",
        "a\\b",
        ".",
        "..",
        "a b",
        "C:x",
        "x" * 21,
        "$AAPL",
        ".HIDDEN",
        "ß",
        "ı",
        "ﬁ",
    ],
)
def test_refused_symbols(raw: str) -> None:
    with pytest.raises(UsageError):
        normalize_symbol(raw)


def test_data_dir_option_beats_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STOCKCAST_HOME", str(tmp_path / "env"))
    assert data_dir(tmp_path / "opt") == tmp_path / "opt"
    assert data_dir() == tmp_path / "env"
    monkeypatch.delenv("STOCKCAST_HOME")
    assert data_dir() == Path("data")


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("aZ09.-^=/\\:~ \x00é_"), max_size=24) | st.text(max_size=24)
)
def test_no_accepted_symbol_resolves_outside_the_data_directory(raw: str) -> None:
    root = Path("/tmp/stockcast-root")
    try:
        sym = normalize_symbol(raw)
    except UsageError:
        return
    path = symbol_file(root, sym, "prices", ".parquet")
    assert path.parent == (root / "prices").resolve()
    assert path.name == f"{sym}.parquet"
    assert sym not in {".", ".."} and "/" not in sym and "\\" not in sym
