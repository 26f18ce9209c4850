"""Reading stored files never blocks and never reads what it should not (fsutil.read_stored),
a damaged model is never the default, and model names stay in their namespaces."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stockcast.data import fsutil
from stockcast.errors import UnsafeFile, UsageError
from stockcast.models import catalog
from stockcast.models import store as modelstore
from stockcast.models.lstm import Config as ModelConfig
from stockcast.models.lstm import Model as LSTMForecaster
from stockcast.models.manifest import Manifest


def test_a_regular_file_and_a_link_inside_are_read(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"{}")
    (tmp_path / "b.json").symlink_to("a.json")
    assert fsutil.read_stored(tmp_path / "b.json", tmp_path, 10) == b"{}"
    with pytest.raises(FileNotFoundError):
        fsutil.read_stored(tmp_path / "none.json", tmp_path, 10)


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "m.json")
    done: list[BaseException] = []

    def read() -> None:
        try:
            fsutil.read_stored(tmp_path / "m.json", tmp_path, 10)
        except BaseException as exc:
            done.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    start = time.monotonic()
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the stuck reader before failing
        with open(tmp_path / "m.json", "wb"):
            pass
        pytest.fail("reading a FIFO blocked")
    assert time.monotonic() - start < 5
    assert isinstance(done[0], UnsafeFile) and "FIFO" in str(done[0])


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p, root: p.symlink_to("/etc/passwd"), "leads out of the data directory"),
        (lambda p, root: p.symlink_to("/dev/zero"), "leads out of the data directory"),
        (lambda p, root: p.symlink_to(p.name), "symbolic link loop"),
        (lambda p, root: p.mkdir(), "a folder"),
        (lambda p, root: os.truncate(p.open("wb").name, 1 << 40), "more than stockcast reads"),
    ],
    ids=["link-out", "dev-zero", "loop", "folder", "sparse-terabyte"],
)
def test_special_files_are_refused_in_one_line(tmp_path: Path, make, words: str) -> None:
    path = tmp_path / "manifest.json"
    make(path, tmp_path)
    with pytest.raises(UnsafeFile) as err:
        fsutil.read_stored(path, tmp_path, fsutil.MANIFEST_LIMIT, "the fix")
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_device_is_refused_where_no_data_directory_is_checked(tmp_path: Path) -> None:
    with pytest.raises(UnsafeFile, match="character device"):
        fsutil.read_stored(Path("/dev/zero"), None, 10)


def test_a_loop_at_a_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "models").symlink_to("models")
    with pytest.raises(UnsafeFile, match="models is a symbolic link loop"):
        fsutil.stored_dir(tmp_path / "models", tmp_path)
    with pytest.raises(UnsafeFile, match="symbolic link loop"):
        modelstore.list_models(tmp_path, "MSFT")
    assert fsutil.stored_dir(tmp_path / "prices", tmp_path) is False


def save_one(root: Path, name: str = "MSFT", symbols: tuple[str, ...] = ("MSFT",)) -> str:
    torch.manual_seed(0)
    cfg = ModelConfig(n_features=3, horizon=2, hidden=4)
    series = {s: {"scalers": {}, "split": {}, "trained_through": None, "data_end": None}
              for s in symbols}  # fmt: skip
    manifest = {"model_config": cfg.to_dict(), "features": ["a", "b", "c"], "series": series}
    calib = {s: {"y": np.zeros((5, 2)), "mu": np.ones((5, 2)), "vol": np.full(5, 0.01)}
             for s in symbols}  # fmt: skip
    state = LSTMForecaster(cfg).state_dict()
    return modelstore.save_model(root, name, Manifest.from_json(manifest), state, calib)[0]


@pytest.mark.parametrize("damage", ["empty", "manifest", "weights", "fifo"])
def test_a_damaged_newest_model_is_never_the_default_nor_kept(tmp_path: Path, damage: str) -> None:
    older, newer, newest = (save_one(tmp_path) for _ in range(3))
    folder = modelstore.models_dir(tmp_path, "MSFT") / newest
    if damage == "empty":
        for p in folder.iterdir():
            p.unlink()
    elif damage == "manifest":
        (folder / "manifest.json").write_text("{")
    elif damage == "weights":
        (folder / "model.safetensors").write_bytes(b"garbage")
    else:
        (folder / "model.safetensors").unlink()
        os.mkfifo(folder / "model.safetensors")
    assert modelstore.damage(tmp_path, "MSFT", newest) is not None
    assert modelstore.default_model_id(tmp_path, "MSFT") == newer
    entries = {e.id: e for e in catalog.entries(tmp_path)}
    assert entries[newest].error and not entries[newest].default and entries[newer].default
    assert catalog.prune(tmp_path, "MSFT", keep=1) == [
        ("MSFT", newest, True),
        ("MSFT", older, False),
    ]
    assert modelstore.list_models(tmp_path, "MSFT") == [newer]


def test_references_name_one_model(tmp_path: Path) -> None:
    first, second = save_one(tmp_path), save_one(tmp_path)
    assert catalog.resolve(tmp_path, "msft") == ("MSFT", second)  # a name: its default
    assert catalog.resolve(tmp_path, f"msft:{first}") == ("MSFT", first)
    assert catalog.resolve(tmp_path, first) == ("MSFT", first)
    for ref in ("", " ", "*", "MSFT:*", "2", first[:15] + "?"):
        with pytest.raises(UsageError):
            catalog.resolve(tmp_path, ref)
    assert catalog.is_default(tmp_path, "MSFT", second)


def test_global_and_symbol_models_never_share_a_name(tmp_path: Path) -> None:
    save_one(tmp_path)  # MSFT's own model
    with pytest.raises(UsageError, match="stored symbol"):
        modelstore.check_name(tmp_path, "msft", ["AAPL", "KO"])
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "KO.parquet").write_bytes(b"")
    with pytest.raises(UsageError, match="stored symbol"):
        modelstore.check_name(tmp_path, "KO", ["AAPL", "KO"])
    save_one(tmp_path, "Big3", ("AAPL", "AMD", "KO"))
    modelstore.check_name(tmp_path, "big3", ["AAPL", "AMD", "KO"])  # retraining it: fine
    with pytest.raises(UsageError, match="global model"):
        modelstore.check_name(tmp_path, "BIG3", ["BIG3"])
    [big3] = catalog.entries(tmp_path, "big3")
    assert big3.name == "BIG3" and big3.display_name == "Big3"  # the case typed, for display
