"""Bit-identity of training through the refactors of issue 18 (one path for one or many series).

``tests/fixtures/golden_onepath/golden.json`` holds what main's code produced before the change
(``record.py`` at ca573cb; re-recorded after the fix that bands a per-symbol backtest fold's test
windows with its scale networks, which moved only that backtest's interval figures): tiny
per-symbol and global ensembles (`train`, then `predict --json` and `evaluate --json`),
per-symbol and global walk-forward backtests (`backtest --json`), the saved manifests and a
sha256 per saved tensor. Retraining with the same code on the same machine must give every
number and every weight bit for bit; torch's kernels differ between CPUs, so on another machine
(``machine()`` differs) the test is skipped: rerun ``record.py`` with the code of the recording
commit to make a fixture for that machine.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent / "fixtures" / "golden_onepath"
spec = importlib.util.spec_from_file_location("golden_record", HERE / "record.py")
assert spec is not None and spec.loader is not None
record = importlib.util.module_from_spec(spec)
spec.loader.exec_module(record)


def _differences(want: Any, got: Any, where: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{where}/{k}: missing" for k in want.keys() - got.keys()]
        out += [f"{where}/{k}: unexpected" for k in got.keys() - want.keys()]
        for k in want.keys() & got.keys():
            out += _differences(want[k], got[k], f"{where}/{k}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in _differences(w, g, f"{where}[{i}]")
        ]
    return [] if want == got else [f"{where}: {want!r} != {got!r}"]


@pytest.mark.slow
def test_training_reproduces_main_bit_for_bit(tmp_path: Path) -> None:
    golden = json.loads((HERE / "golden.json").read_text())
    if golden["machine"] != record.machine():
        pytest.skip(f"golden outputs recorded on {golden['machine']}, not this machine")
    got = json.loads(json.dumps(record.outputs(tmp_path)))  # as stored: JSON floats
    for tensors in got["weights"].values():  # kept since the recording: what `train` scored,
        for key in [k for k in tensors if k.startswith("scored.")]:  # for `evaluate` (its
            del tensors[key]  # own tests: tests/test_evaluation.py)
    diffs = _differences(golden, got)
    assert not diffs, f"{len(diffs)} differences, first: " + "; ".join(diffs[:10])
