"""The typed manifest: read and written only in stockcast/models/, older formats upgraded."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from collections.abc import Mapping
from pathlib import Path

import pytest

from stockcast.models import manifest as mf
from stockcast.models import store as modelstore
from stockcast.models.manifest import Manifest

PACKAGE = Path(__file__).parents[1] / "stockcast"
FIXTURES = Path(__file__).parent / "fixtures"
LEGACY = next((FIXTURES / "legacy_model_v1" / "MSFT").glob("*/manifest.json"))
PREDECESSOR = sorted((FIXTURES / "models_397d288").glob("*/*/manifest.json"))


def outside_models() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if "models" not in p.relative_to(PACKAGE).parts[:1]]


def _names_a_manifest(node: ast.expr) -> bool:
    """``manifest``, ``f.manifest``, ``saved_manifest``, ...: an expression named as one."""
    name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
    return "manifest" in name.lower()


def string_key_reads(tree: ast.AST) -> list[int]:
    """Lines where a manifest is read by a string key: ``manifest["k"]`` or
    ``manifest.get("k")``."""
    lines = []
    for node in ast.walk(tree):
        key = getattr(node, "slice", None)
        if (
            isinstance(node, ast.Subscript)
            and _names_a_manifest(node.value)
            and isinstance(key, ast.Constant)
            and isinstance(key.value, str)
        ):
            lines.append(node.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _names_a_manifest(node.func.value)
        ):
            lines.append(node.lineno)
    return lines


def test_no_string_key_read_of_a_manifest_outside_the_models_package():
    found = {}
    for path in outside_models():
        tree = ast.parse(path.read_text(), filename=str(path))
        lines = string_key_reads(tree)
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
        assert "manifest.json" not in path.read_text(), f"{path}: reads the file itself"
    assert found == {}


def test_the_checker_finds_what_it_forbids():
    code = 'a = manifest["id"]\nb = f.manifest.get("kind")\nc = manifest.id\nd = m["x"]\n'
    assert string_key_reads(ast.parse(code)) == [1, 2]


def test_a_manifest_is_not_a_mapping_and_the_store_hands_out_only_manifests():
    assert not issubclass(Manifest, Mapping)
    assert not hasattr(Manifest, "__getitem__") and not hasattr(Manifest, "get")
    assert dataclasses.is_dataclass(Manifest) and Manifest.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for fn in (modelstore.read_manifest, modelstore.load_model):
        assert "Manifest" in str(inspect.signature(fn).return_annotation), fn.__name__
    assert "NumpyModel" in str(inspect.signature(modelstore.load_numpy).return_annotation)
    fields = {f.name: f.type for f in dataclasses.fields(modelstore.NumpyModel)}
    assert fields["manifest"] == "Manifest"


def test_a_format_1_manifest_is_upgraded_on_read():
    saved = json.loads(LEGACY.read_text())
    m = Manifest.from_json(saved)
    assert m.format_version == 1 and m.arch == "lstm" and m.symbols == ["MSFT"]
    assert m.data.features == tuple(saved["features"]) and m.horizon == saved["horizon"]
    s = m.series_of()
    assert s.split_json() == saved["split"] and s.scalers == saved["scalers"]
    assert s.trained_through == saved["trained_through"] and s.data_end == saved["data_end"]
    assert s.start_drift == (mf.LEGACY_START_DRIFT,) * 5 and m.scale is None and m.live is None
    assert m.report() == saved["test_metrics"] and m.ensemble == 1 and not m.is_global
    written = m.to_json()
    assert written["format_version"] == mf.FORMAT_VERSION and written["arch"] == "lstm"
    assert written["series"]["MSFT"]["split"] == saved["split"]
    assert Manifest.from_json(written) == dataclasses.replace(m, format_version=2)


@pytest.mark.parametrize("path", PREDECESSOR, ids=lambda p: p.parts[-3])
def test_the_predecessors_manifests_read_back_unchanged(path):
    """What that release wrote is what today writes for the same model, plus the defaults it
    did not record (``start_drift`` of its half-drift start, ``scale``: the EWMA band)."""
    saved = json.loads(path.read_text())
    m = Manifest.from_json(saved)
    written = m.to_json()
    for key, value in saved.items():
        if key != "series":
            assert written[key] == value, key
    for sym, block in saved["series"].items():
        assert written["series"][sym] == {**block, "start_drift": [0.5] * saved["horizon"]}
    assert set(written) - set(saved) <= {"scale", "shrink", "test_metrics", "display_name"}
    assert written.get("scale") is None
    assert Manifest.from_json(written) == m
    assert m.ensemble == len(saved["members"]) and m.is_global == (saved.get("kind") == "global")


def test_a_manifest_round_trips_through_json():
    saved = json.loads(PREDECESSOR[0].read_text())
    m = Manifest.from_json(saved)
    again = Manifest.from_json(json.loads(json.dumps(m.to_json())))
    assert again == m
