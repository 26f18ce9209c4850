"""The bad-input corpus (tests/corpus/): every hostile file, stored or given, ends in exactly one
line on stderr, exit 1 or 2, no traceback, and a store left as it was.

Small hostile files live in tests/corpus/ (csv/, manifest/, log/, config/); huge or special
ones (a 200 KB field, a 3,000-deep array, a FIFO, a symlink loop, NaN weights) are made here.
A manifest case is a patch (``patch-*.json``: dotted key -> value, applied to a trained model's
manifest) or a whole file (``raw-*``); a log case is rows (``rows-*.json``, written as Parquet
without any checks) or a whole file (``raw-*``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import TINY
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.sources.csvfile import read_csv_prices
from stockcast.data.store import COLUMNS, PriceStore
from stockcast.errors import StockcastError

CORPUS = Path(__file__).parent / "corpus"
STOCKCAST = [sys.executable, "-m", "stockcast"]


def corpus(kind: str) -> list[Path]:
    return sorted((CORPUS / kind).iterdir())


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` except lock files and caches (docs/data.md: empty
    or rebuilt, safe to leave or delete)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not {"locks", "cache"} & set(p.relative_to(root).parts)
    }


def cli(root: Path, *args: str) -> tuple[int, str, str]:
    """``stockcast --data-dir ROOT ARGS`` in-process: (exit code, stdout, stderr)."""
    res = CliRunner().invoke(app, ["--data-dir", str(root), *args])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res.exit_code, res.stdout, res.stderr


def one_error_line(code: int, err: str, codes: tuple[int, ...] = (1, 2)) -> str:
    assert code in codes, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "\x1b" not in err and "\x07" not in err, err  # no raw terminal escapes
    return lines[0]


def expect_refusal(root: Path, *args: str, codes: tuple[int, ...] = (1, 2)) -> str:
    """Run the command; assert one error line, a sensible code, nothing stored changed."""
    before = snapshot(root)
    code, _, err = cli(root, *args)
    line = one_error_line(code, err, codes)
    assert snapshot(root) == before
    return line


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with the MSFT sample and one tiny model (built once for the module)."""
    root = tmp_path_factory.mktemp("trained")
    assert cli(root, "fetch", "--sample")[0] == 0
    code, out, err = cli(root, "train", "MSFT", *TINY, "--ensemble", "1")
    assert code == 0, out + err
    return root


@pytest.fixture
def store(trained: Path, tmp_path: Path) -> Path:
    """A private copy of the trained data directory, free to damage."""
    root = tmp_path / "store"
    shutil.copytree(trained, root)
    return root


def manifest_path(root: Path) -> Path:
    return next((root / "models" / "MSFT").glob("*/manifest.json"))


# --- hostile CSV files ---------------------------------------------------------------------


@pytest.mark.parametrize("path", corpus("csv"), ids=lambda p: p.name)
def test_hostile_csv_is_refused(store: Path, path: Path) -> None:
    expect_refusal(store, "fetch", "BAD", "--csv", str(path), codes=(CLASS_EXIT["csv"],))


def generated_csvs(tmp: Path) -> dict[str, Path]:
    rows = "".join(f"2020-01-{d:02d},1,1,1,1,10\n" for d in range(2, 9))
    out = {}
    out["huge_field"] = tmp / "huge.csv"
    out["huge_field"].write_text("Date,Close\n" + "2020-01-02," + "9" * 200_000 + "\n")
    out["huge_header"] = tmp / "huge_header.csv"
    out["huge_header"].write_text("Date," + "C" * 200_000 + "\n" + rows)
    out["many_columns"] = tmp / "wide.csv"
    out["many_columns"].write_text(",".join(f"c{i}" for i in range(20_000)) + "\n1,2\n")
    loop = tmp / "loop.csv"
    loop.symlink_to(loop)
    out["symlink_loop"] = loop
    out["directory"] = tmp
    fifo = tmp / "fifo.csv"
    os.mkfifo(fifo)
    out["fifo"] = fifo
    return out


@pytest.mark.parametrize(
    "case", ["huge_field", "huge_header", "many_columns", "symlink_loop", "directory", "fifo"]
)
def test_generated_hostile_csv_is_refused(store: Path, tmp_path: Path, case: str) -> None:
    path = generated_csvs(tmp_path)
    expect_refusal(store, "fetch", "BAD", "--csv", str(path[case]))


# --- damaged manifests and weights -------------------------------------------------------


def apply_patch(manifest: dict, patch: dict) -> dict:
    for dotted, value in patch.items():
        *parents, last = dotted.split(".")
        node = manifest
        for key in parents:
            node = node[key]
        node[last] = value
    return manifest


@pytest.mark.parametrize("path", corpus("manifest"), ids=lambda p: p.name)
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_damaged_manifest_is_refused(store: Path, path: Path, command: str) -> None:
    target = manifest_path(store)
    if path.name.startswith("patch-"):
        manifest = apply_patch(json.loads(target.read_text()), json.loads(path.read_text()))
        target.write_text(json.dumps(manifest))
    else:
        target.write_bytes(path.read_bytes())
    line = expect_refusal(store, command, "MSFT", codes=(CLASS_EXIT["manifest"],))
    if path.name.startswith("patch-"):  # the schema names the key, never prints a NaN forecast
        assert "manifest.json" in line


@pytest.mark.parametrize("name", ["patch-nan_feature_mean.json", "patch-inf_target_mean.json"])
def test_run_replaces_a_damaged_model_instead_of_logging_its_forecasts(
    store: Path, name: str
) -> None:
    """Issue 12: `run` logged the NaN forecasts of a damaged manifest as ok. Now the damaged
    newest model is unusable: `run` trains a new one (saying why in its log) and logs only
    finite forecasts."""
    target = manifest_path(store)
    damaged = target.parent.name
    patch = json.loads((CORPUS / "manifest" / name).read_text())
    target.write_text(json.dumps(apply_patch(json.loads(target.read_text()), patch)))
    (store / "stockcast.toml").write_text(
        'symbols = ["MSFT"]\nstale_sessions = 100000\n[retrain]\nevery_days = 0\n'
        "new_sessions = 0\n[train]\nepochs = 1\nhidden = 4\nlookback = 10\nensemble = 1\n"
    )
    code, out, err = cli(store, "run", "--json")
    assert code == 0, out + err
    [msft] = json.loads(out)["symbols"]
    assert msft["retrained"] and msft["model"] != damaged and msft["forecasts"] == 5
    assert "Traceback" not in err
    log = pd.read_parquet(store / "forecasts" / "MSFT.parquet")
    assert (log["model"] != damaged).all()
    assert np.isfinite(log[["close", "lower", "upper"]].to_numpy(dtype=float)).all()
    assert "damaged manifest.json" in (store / "logs" / "stockcast.log").read_text()


def test_non_finite_weights_are_refused(store: Path) -> None:
    from safetensors.numpy import load, save

    target = manifest_path(store)
    weights = target.parent / "model.safetensors"
    tensors = load(weights.read_bytes())
    tensors = {
        k: np.full_like(v, np.nan) if k.startswith("live.model.") else v for k, v in tensors.items()
    }
    blob = save(tensors)
    weights.write_bytes(blob)
    manifest = json.loads(target.read_text())
    manifest["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    target.write_text(json.dumps(manifest))
    line = expect_refusal(store, "predict", "MSFT")
    assert "weights" in line


def test_interrupted_model_is_shown_as_such(store: Path) -> None:
    target = manifest_path(store)
    manifest = json.loads(target.read_text())
    manifest["interrupted"] = True
    target.write_text(json.dumps(manifest))
    code, out, err = cli(store, "predict", "MSFT")
    assert code == 0, out + err
    assert "interrupted" in err and err.startswith("warning:")
    code, out, _ = cli(store, "models")
    assert code == 0 and "interrupted" in out


def test_predict_refuses_a_model_whose_history_was_rewritten(store: Path) -> None:
    prices = PriceStore(store)
    frame, info = prices.read_with_info("MSFT")
    with prices.lock("MSFT"):
        prices.write("MSFT", frame.drop(frame.index[100]), source=info.source)
    line = expect_refusal(store, "predict", "MSFT")
    assert "no longer match" in line and "stockcast train MSFT" in line


# --- damaged stored prices ---------------------------------------------------------------


def _rewrite_prices(root: Path, change: Callable[[pd.DataFrame], pd.DataFrame], meta=None) -> None:
    path = root / "prices" / "MSFT.parquet"
    table = pq.read_table(path)
    frame = change(table.to_pandas())
    new = pa.Table.from_pandas(frame, preserve_index=False)
    meta = table.schema.metadata if meta is None else meta
    pq.write_table(new.replace_schema_metadata(meta), path)


PRICE_DAMAGE: dict[str, Callable[[Path], None]] = {
    "unsorted": lambda r: _rewrite_prices(r, lambda f: f.iloc[::-1]),
    "duplicate_dates": lambda r: _rewrite_prices(r, lambda f: pd.concat([f, f.iloc[-3:]])),
    "nan_close": lambda r: _rewrite_prices(r, lambda f: f.assign(close=np.nan)),
    "negative_adj_close": lambda r: _rewrite_prices(
        r, lambda f: f.assign(adj_close=-f["adj_close"])
    ),
    "inf_close": lambda r: _rewrite_prices(r, lambda f: f.assign(close=np.inf)),
    "string_close": lambda r: _rewrite_prices(r, lambda f: f.assign(close="x")),
    "meta_not_json": lambda r: _rewrite_prices(r, lambda f: f, {b"stockcast": b"{not json"}),
    "meta_list": lambda r: _rewrite_prices(r, lambda f: f, {b"stockcast": b"[1, 2]"}),
    "meta_bad_version": lambda r: _rewrite_prices(
        r, lambda f: f, {b"stockcast": b'{"schema_version": "one", "source": 5}'}
    ),
    "truncated": lambda r: (r / "prices" / "MSFT.parquet").write_bytes(
        (r / "prices" / "MSFT.parquet").read_bytes()[:5000]
    ),
    "empty_file": lambda r: (r / "prices" / "MSFT.parquet").write_bytes(b""),
    "directory": lambda r: (
        (r / "prices" / "MSFT.parquet").unlink(),
        (r / "prices" / "MSFT.parquet").mkdir(),
    ),
}


@pytest.mark.parametrize("damage", sorted(PRICE_DAMAGE))
@pytest.mark.parametrize("command", [("predict", "MSFT"), ("evaluate", "MSFT"), ("list",)])
def test_damaged_prices_are_refused(store: Path, damage: str, command: tuple[str, ...]) -> None:
    PRICE_DAMAGE[damage](store)
    if command == ("list",) or damage.startswith("meta_"):
        # list reads the footer only, and a damaged footer is only information (the prices
        # are whole): a result, or one line, never a traceback
        before = snapshot(store)
        code, _, err = cli(store, *command)
        assert code == 0 or one_error_line(code, err)
        assert "Traceback" not in err
        if command == ("list",):
            assert snapshot(store) == before
        return
    expect_refusal(store, *command)


@pytest.mark.parametrize("damage", sorted(set(PRICE_DAMAGE) - {"directory"}))
def test_fetch_sample_repairs_damaged_prices(store: Path, damage: str) -> None:
    PRICE_DAMAGE[damage](store)
    code, out, err = cli(store, "fetch", "--sample", "--quiet")
    assert code == 0, out + err
    assert len(PriceStore(store).read("MSFT")) == 7983


def test_fetch_csv_repairs_damaged_prices(store: Path, tmp_path: Path) -> None:
    csv = tmp_path / "MSFT.csv"
    PriceStore(store).read("MSFT").to_csv(csv)
    PRICE_DAMAGE["meta_not_json"](store)
    PRICE_DAMAGE["unsorted"](store)
    code, out, err = cli(store, "fetch", "MSFT", "--csv", str(csv), "--quiet")
    assert code == 0, out + err
    assert PriceStore(store).read("MSFT").index.is_monotonic_increasing


# --- damaged forecast logs ---------------------------------------------------------------


@pytest.mark.parametrize("path", corpus("log"), ids=lambda p: p.name)
@pytest.mark.parametrize("command", ["score", "predict"])
def test_damaged_forecast_log_is_refused(store: Path, path: Path, command: str) -> None:
    target = store / "forecasts" / "MSFT.parquet"
    target.parent.mkdir(exist_ok=True)
    if path.name.startswith("rows-"):
        pd.DataFrame(json.loads(path.read_text())).to_parquet(target, index=False)
    else:
        target.write_bytes(path.read_bytes())
    if command == "score":
        expect_refusal(store, "score", "MSFT", codes=(CLASS_EXIT["log"],))
        return
    # predict prints its forecast; a log it cannot append to costs a warning, not the forecast
    before = snapshot(store)
    code, out, err = cli(store, "predict", "MSFT")
    assert code == 0 and "MSFT" in out, err
    lines = err.splitlines()  # the sample is old: a stale-data warning comes too
    assert all(line.startswith("warning: ") for line in lines), err
    assert [line for line in lines if "forecast log" in line and "move it aside" in line]
    assert snapshot(store) == before


# --- hostile config files ----------------------------------------------------------------


@pytest.mark.parametrize("path", corpus("config"), ids=lambda p: p.name)
def test_hostile_config_is_refused(store: Path, path: Path) -> None:
    line = expect_refusal(store, "run", "--config", str(path), codes=(CLASS_EXIT["config"],))
    assert str(path) in line or path.name in line


def test_deep_config_is_refused(store: Path, tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("symbols = " + "[" * 3000 + "]" * 3000 + "\n")
    expect_refusal(store, "run", "--config", str(path))


def test_huge_config_is_refused(store: Path, tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text('symbols = ["MSFT"]\n' + "#" * 5_000_000 + "\n")
    expect_refusal(store, "run", "--config", str(path))


@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_special_config_is_refused_without_blocking(store: Path, kind: str) -> None:
    path = store / "stockcast.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    proc = subprocess.run(
        [*STOCKCAST, "--data-dir", str(store), "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = one_error_line(proc.returncode, proc.stderr)
    assert "stockcast.toml" in line


# --- special files inside the data directory ------------------------------------------------
# A case (special/*.json) plants something at ``at`` (a glob under the data directory; "" is
# the directory itself): a FIFO, a socket, a link (``to``), a symbolic link loop, a sparse
# file of ``size`` bytes, an empty folder. Every command of ``exit`` ends with that code, one
# error line (or none), no traceback, in well under 10 s, and leaves every stored file as it
# was; each command of ``changing`` (which may repair or replace) runs on a fresh copy.

# One process runs the commands of a case in turn (heavy imports paid once, before timing);
# a command that blocks makes the process time out, so a regression fails instead of hanging.
DRIVER = """
import json, sys, time
from typer.testing import CliRunner
import stockcast.cli.train, stockcast.training.job, stockcast.forecasting.forecast  # imports
from stockcast.cli import app
out = []
for args in json.loads(sys.argv[1]):
    t = time.monotonic()
    res = CliRunner().invoke(app, args)
    crash = res.exception is not None and not isinstance(res.exception, SystemExit)
    out.append({"code": res.exit_code, "stderr": res.stderr, "s": time.monotonic() - t,
                "crash": repr(res.exception) if crash else None})
print(json.dumps(out))
"""
COMMAND_SECONDS = 10.0


@pytest.fixture(scope="module")
def lived(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained directory after a `run`: a config, a log file, a forecast log, a calendar
    cache."""
    root = tmp_path_factory.mktemp("lived") / "store"
    shutil.copytree(trained, root)
    (root / "stockcast.toml").write_text(
        'symbols = ["MSFT"]\nstale_sessions = 100000\n[retrain]\nevery_days = 0\n'
        "new_sessions = 0\n[train]\nepochs = 1\nhidden = 4\nlookback = 10\nensemble = 1\n"
    )
    code, out, err = cli(root, "run", "--quiet")
    assert code == 0, out + err
    for path in ("logs/stockcast.log", "forecasts/MSFT.parquet", "cache/calendars/XNYS.json"):
        assert (root / path).is_file()
    return root


def plant(root: Path, case: dict) -> None:
    """Put the case's special file at its place under ``root``."""
    hits = sorted(root.glob(case["at"])) if case["at"] else [root]
    target = hits[0] if hits else root / case["at"]
    if target.is_dir() and not target.is_symlink() and case["make"] != "dir":
        shutil.rmtree(target)
    elif os.path.lexists(target):
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    make = case["make"]
    if make == "fifo":
        os.mkfifo(target)
    elif make == "link":
        target.symlink_to(case["to"])
    elif make == "loop":
        target.symlink_to(target.name)
    elif make == "big":
        with open(target, "wb") as fh:
            fh.truncate(case["size"])
    elif make == "dir":
        target.mkdir()
    elif make == "socket":
        import socket

        here = os.getcwd()
        os.chdir(target.parent)  # a relative name: AF_UNIX paths are short (108 bytes)
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(target.name)
            sock.close()
        finally:
            os.chdir(here)
    else:
        raise AssertionError(f"unknown make: {make}")


def drive(root: Path, commands: list[str]) -> list[dict]:
    """Run ``commands`` (strings, split on spaces) in one process against ``root``."""
    sample = str(Path(__file__).parents[1] / "stockcast" / "sample" / "MSFT.csv")
    argv = [["--data-dir", str(root), *c.replace("{sample}", sample).split()] for c in commands]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=60 + COMMAND_SECONDS * len(commands),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])


def check_outcome(command: str, want: int, got: dict) -> None:
    where = f"{command}: {got['stderr']}"
    assert got["crash"] is None, f"{command}: {got['crash']}"
    assert got["code"] == want, where
    assert "Traceback" not in got["stderr"], where
    assert got["s"] < COMMAND_SECONDS, f"{command} took {got['s']:.1f} s"
    errors = [line for line in got["stderr"].splitlines() if line.startswith("error: ")]
    assert len(errors) == (1 if want else 0) or (command.startswith("run") and errors), where


SPECIAL = corpus("special")


@pytest.mark.parametrize("path", SPECIAL, ids=lambda p: p.stem)
def test_special_file_in_the_data_directory(lived: Path, tmp_path: Path, path: Path) -> None:
    case = json.loads(path.read_text())
    root = tmp_path / "store"
    shutil.copytree(lived, root, symlinks=True)
    plant(root, case)
    looped = case["make"] == "loop" and not case["at"]
    before = None if looped else snapshot(root)
    commands = list(case["exit"])
    for command, got in zip(commands, drive(root, commands), strict=True):
        check_outcome(command, case["exit"][command], got)
    if before is not None:
        assert snapshot(root) == before


CHANGING = [(p, c) for p in SPECIAL for c in json.loads(p.read_text()).get("changing", {})]


@pytest.mark.slow  # `run` trains a new model in place of a damaged one
@pytest.mark.parametrize(("path", "command"), CHANGING, ids=lambda v: getattr(v, "stem", v))
def test_special_file_repaired_or_replaced(
    lived: Path, tmp_path: Path, path: Path, command: str
) -> None:
    case = json.loads(path.read_text())
    root = tmp_path / "store"
    shutil.copytree(lived, root, symlinks=True)
    plant(root, case)
    [got] = drive(root, [command])
    check_outcome(command, case["changing"][command], got)


def test_special_cases_cover_the_classes_of_issue_23() -> None:
    """Every class of the hostile campaign has a case: a FIFO at each stored file, a link out,
    /dev/zero, symbolic link loops at the data directory and at models/."""
    cases = {p.stem: json.loads(p.read_text()) for p in SPECIAL}
    fifos = {c["at"].split("/")[0] for c in cases.values() if c["make"] == "fifo"}
    assert fifos >= {"models", "logs", "cache", "forecasts", "prices", "tune"}
    assert {"", "models"} <= {c["at"] for c in cases.values() if c["make"] == "loop"}
    assert {"/dev/zero", "/etc/passwd"} <= {c.get("to") for c in cases.values()}


# --- model references and names ----------------------------------------------------------
# model_refs/*.json: a `models` reference (empty, blank, pattern-like, too short, unknown, a
# default model without --yes) or a model name (a global model named after a stored symbol)
# that is refused with its exit code, before anything is removed or trained.


@pytest.mark.parametrize("path", corpus("model_refs"), ids=lambda p: p.stem)
def test_model_reference_is_refused(store: Path, path: Path) -> None:
    case = json.loads(path.read_text())
    expect_refusal(store, *case["args"], codes=(case["exit"],))
    assert len(list((store / "models" / "MSFT").iterdir())) == 1  # the only model is kept


# --- the exit code of every class --------------------------------------------------------
# README "Exit codes": 1 an error (a file stockcast cannot use), 2 bad usage (an option, a
# config, a model reference). The classes whose cases carry their own code are None here.
CLASS_EXIT = {"csv": 1, "manifest": 1, "log": 1, "config": 2, "special": None, "model_refs": None}
DOCUMENTED = {0, 1, 2, 3, 4, 5, 130}


def test_every_corpus_class_has_its_documented_exit_code() -> None:
    """Walk the corpus: every folder is a class with an exit code from the README's table, and
    every case that carries its own codes uses documented ones."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.M)} == DOCUMENTED
    assert {p.name for p in CORPUS.iterdir() if p.is_dir()} == set(CLASS_EXIT)
    for kind, code in CLASS_EXIT.items():
        assert code is None or code in DOCUMENTED, kind
        for path in corpus(kind):
            if path.suffix == ".json" and kind in ("special", "model_refs"):
                case = json.loads(path.read_text())
                codes = [case["exit"]] if kind == "model_refs" else [
                    *case["exit"].values(), *case.get("changing", {}).values()]  # fmt: skip
                assert set(codes) <= DOCUMENTED and case["what"], path.name


# --- hostile option values and symbols ---------------------------------------------------

BIG = "1" + "0" * 20

HOSTILE_ARGS = [
    ("train", "MSFT", "--seed", BIG),
    ("train", "MSFT", "--hidden", BIG),
    ("train", "MSFT", "--epochs", BIG),
    ("train", "MSFT", "--lookback", BIG),
    ("train", "MSFT", "--test-start", "2999-01-01"),
    ("train", "MSFT", "--test-start", "1000-01-01"),
    ("train", "MSFT", "--lr", "inf"),
    ("train", "MSFT", "--lr", "1e30"),
    ("predict", "MSFT", "--horizon", BIG),
    ("predict", "MSFT", "--level", "nan"),
    (
        "fetch",
        "BAD",
        "--csv",
        str(CORPUS.parent / "fixtures" / "csv" / "stooq.csv"),
        "--date-format",
        "%Y%Y",
    ),
    (
        "fetch",
        "BAD",
        "--csv",
        str(CORPUS.parent / "fixtures" / "csv" / "stooq.csv"),
        "--date-format",
        "%",
    ),
    ("predict", "ß"),
    ("predict", "ı"),
    ("predict", "ﬁ"),
    ("predict", ".HIDDEN"),
    ("predict", "MS\x1b[2JFT"),
    ("fetch", "--sample", "--start", "99999-01-01"),
]


@pytest.mark.parametrize("args", HOSTILE_ARGS, ids=lambda a: " ".join(a)[-40:])
def test_hostile_options_are_refused(store: Path, args: tuple[str, ...]) -> None:
    """At the real command line: Click's usage errors pass through ``cli.main``'s edge."""
    before = snapshot(store)
    proc = subprocess.run(
        [*STOCKCAST, "--data-dir", str(store), *args], capture_output=True, text=True, timeout=120
    )
    one_error_line(proc.returncode, proc.stderr)
    assert snapshot(store) == before


def test_ascii_locale_and_closed_stdout(store: Path) -> None:
    env = {**os.environ, "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    proc = subprocess.run(
        [*STOCKCAST, "--data-dir", str(store), "predict", "ß"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    one_error_line(proc.returncode, proc.stderr)
    proc = subprocess.run(
        ["sh", "-c", '"$0" -m stockcast --data-dir "$1" list >&-', sys.executable, str(store)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) <= 1, proc.stderr
    assert proc.returncode in (0, 1)


# --- fuzzing the CSV reader --------------------------------------------------------------

CELLS = st.one_of(
    st.sampled_from(
        [
            "2020-01-02",
            "1/2/2020",
            "20200102",
            "1577923200",
            "nan",
            "inf",
            "-1",
            "1e400",
            "$1,234.50",
            "1,25",
            "",
            "null",
            "\x1b[2J",
            "9999-12-31",
        ]
    ),
    st.text(max_size=12),
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(
        st.sampled_from(
            ["Date", "Close", "Open", "High", "Low", "Volume", "Adj Close", "time", "x", ""]
        ),
        min_size=1,
        max_size=7,
    ),
    rows=st.lists(st.lists(CELLS, min_size=1, max_size=7), max_size=8),
    sep=st.sampled_from([",", ";", "\t", "|"]),
)
def test_fuzzed_csv_gives_a_frame_or_a_stockcast_error(tmp_path: Path, header, rows, sep) -> None:
    path = tmp_path / "fuzz.csv"
    text = sep.join(header) + "\n" + "".join(sep.join(r) + "\n" for r in rows)
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        frame = read_csv_prices(path)
    except StockcastError:
        return
    assert list(frame.columns) == COLUMNS
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert all(str(t) == "float64" for t in frame.dtypes)


# --- kill -9 at the command line -----------------------------------------------------------


def _kill_when(cmd: list[str], ready: Callable[[], bool], limit: float = 120.0) -> int:
    """Run ``cmd`` and kill -9 it once ``ready()``; its exit status (-9 when killed)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.005)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    return proc.wait()


def _still_loads(root: Path) -> None:
    assert len(PriceStore(root).read("MSFT")) == 7983
    code, out, err = cli(root, "predict", "MSFT")
    assert code == 0, out + err
    code, out, err = cli(root, "models")
    assert code == 0, out + err


@pytest.mark.slow
def test_kill_9_during_train_save(store: Path) -> None:
    folder = store / "models" / "MSFT"
    tmp_seen = lambda: any(p.name.startswith(".tmp-") for p in folder.iterdir())  # noqa: E731
    _kill_when(
        [*STOCKCAST, "--data-dir", str(store), "train", "MSFT", *TINY, "--ensemble", "1"], tmp_seen
    )
    _still_loads(store)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.5, 4.0])
def test_kill_9_during_run(store: Path, delay: float) -> None:
    (store / "stockcast.toml").write_text('symbols = ["MSFT"]\n')
    start = time.monotonic()
    _kill_when(
        [*STOCKCAST, "--data-dir", str(store), "run", "--quiet"],
        lambda: time.monotonic() - start > delay,
    )
    _still_loads(store)
    code, out, err = cli(store, "score", "MSFT")
    assert code == 0, out + err


def _three_models(root: Path) -> list[str]:
    """Two older copies of the trained model under new ids (oldest first, the trained one last)."""
    folder = root / "models" / "MSFT"
    [newest] = [p.name for p in folder.iterdir()]
    older = ["20000101T000000-aaaaaa", "20000102T000000-bbbbbb"]
    for mid in older:
        shutil.copytree(folder / newest, folder / mid)
    return [*older, newest]


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["start", "trash", 0.6, 1.2])
def test_kill_9_during_models_prune(store: Path, moment: str | float) -> None:
    """kill -9 at any moment of `models prune` leaves every model whole or gone (never half
    deleted in sight) and the default predicting the same."""
    ids = _three_models(store)
    code, before, err = cli(store, "predict", "MSFT", "--json")
    assert code == 0, err
    when = re.compile(r"\d{4}-\d\d-\d\dT[\d:.+]+")  # when the forecast was made
    trash = store / "models" / ".trash"
    start = time.monotonic()
    ready = {
        "start": lambda: True,
        "trash": lambda: trash.is_dir() and any(trash.iterdir()),
    }.get(str(moment), lambda: time.monotonic() - start > float(moment))
    _kill_when([*STOCKCAST, "--data-dir", str(store), "models", "prune", "MSFT", "--keep", "1"],
               ready, limit=30)  # fmt: skip
    left = sorted(p.name for p in (store / "models" / "MSFT").iterdir())
    assert ids[-1] in left and set(left) <= set(ids)
    code, out, err = cli(store, "models", "--json")
    assert code == 0 and not [e for e in json.loads(out) if e["error"]], out + err
    assert when.sub("", cli(store, "predict", "MSFT", "--json")[1]) == when.sub("", before)
    code, _, err = cli(store, "models", "prune", "MSFT", "--keep", "1")  # finishes the job
    assert code == 0 and not (trash.exists() and any(trash.iterdir())), err
    assert sorted(p.name for p in (store / "models" / "MSFT").iterdir()) == [ids[-1]]


def _forecast(root: Path, ref: str | None = None) -> str:
    """`predict MSFT --json` without the moment it was made: what an earlier model predicts."""
    code, out, err = cli(root, "predict", "MSFT", "--json", *(["--model", ref] if ref else []))
    assert code == 0, out + err
    return re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "", out)


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["tmp", 2.0])
def test_kill_9_during_train_global(store: Path, moment: str | float) -> None:
    """A global model killed while training or saving leaves the earlier models as they were."""
    before = _forecast(store)
    folder = store / "models" / "G1"
    start = time.monotonic()

    def ready() -> bool:
        if moment != "tmp":
            return time.monotonic() - start > float(moment)
        return folder.is_dir() and any(p.name.startswith(".tmp-") for p in folder.iterdir())

    cmd = ["train", "MSFT", "--global", "--name", "g1", *TINY, "--ensemble", "1"]
    _kill_when([*STOCKCAST, "--data-dir", str(store), *cmd], ready)
    _still_loads(store)
    assert _forecast(store) == before
    assert all(d is None for d in _damages(store, "G1"))  # a model of G1 is whole, or none


def _damages(root: Path, name: str) -> list[str | None]:
    from stockcast.models import store as modelstore

    return [modelstore.damage(root, name, i) for i in modelstore.list_models(root, name)]


@pytest.mark.slow
@pytest.mark.parametrize("delay", [1.5, 4.0])
def test_kill_9_during_backtest(store: Path, delay: float) -> None:
    before = _forecast(store)
    start = time.monotonic()
    cmd = ["backtest", "MSFT", "--folds", "2", "--seeds", "1", *TINY]
    _kill_when([*STOCKCAST, "--data-dir", str(store), *cmd],
               lambda: time.monotonic() - start > delay)  # fmt: skip
    _still_loads(store)
    assert _forecast(store) == before


def _trials(db: Path, state: str) -> list[tuple[int, float | None]]:
    """(number, value) of the trials of the tune database ``db`` in ``state`` (Optuna's tables);
    none while the file or its tables do not exist yet."""
    import sqlite3

    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        try:
            rows = con.execute(
                "SELECT t.number, v.value FROM trials t LEFT JOIN trial_values v "
                "ON v.trial_id = t.trial_id WHERE t.state = ? ORDER BY t.number",
                (state,),
            ).fetchall()
        except sqlite3.OperationalError:  # being created: no tables yet, or locked
            return []
    return [(int(n), v) for n, v in rows]


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["db", "running", "complete", "searched", 4.0])
def test_kill_9_during_tune(store: Path, moment: str | float) -> None:
    """kill -9 at any moment of `tune` (creating its database, inside a trial, after one,
    backtesting the best) leaves the models predicting the same and the database usable: the
    same command continues the study, keeping every trial finished before the kill."""
    before, models = _forecast(store), snapshot(store / "models")
    db = store / "tune" / "MSFT.db"
    cmd = [*STOCKCAST, "--data-dir", str(store), "tune", "MSFT", "--trials", "2", "--folds", "2",
           "--band", "ewma", *TINY]  # fmt: skip
    start = time.monotonic()
    ready = {
        "db": db.exists,
        "running": lambda: bool(_trials(db, "RUNNING")),
        "complete": lambda: bool(_trials(db, "COMPLETE")),
        "searched": lambda: len(_trials(db, "COMPLETE") + _trials(db, "PRUNED")) >= 2,
    }.get(str(moment), lambda: time.monotonic() - start > float(moment))
    assert _kill_when(cmd, ready, limit=300) == -signal.SIGKILL  # killed before it ended
    kept = _trials(db, "COMPLETE")
    _still_loads(store)
    assert _forecast(store) == before and snapshot(store / "models") == models
    proc = subprocess.run([*cmd, "--no-backtest", "--json"], capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    res = json.loads(proc.stdout)
    after = _trials(db, "COMPLETE")
    assert set(kept) <= set(after) and res["trials_completed"] >= 2
    assert res["best"]["value"] == min(v for _, v in after if v is not None)
