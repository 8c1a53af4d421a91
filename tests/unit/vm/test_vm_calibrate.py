"""The calibration corpus (scripts/vm_calibrate.py) covers every name the VM allows, so a
newly allowed builtin, host function or method cannot ship without a worst-case case."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from chainnode.vm.names import ATTRIBUTES, BUILTIN_NAMES, HOST_NAMES

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "vm_calibrate.py"


def _load():
    spec = importlib.util.spec_from_file_location("vm_calibrate", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vm_calibrate", mod)
    spec.loader.exec_module(mod)
    return mod


def test_every_allowed_name_has_a_corpus_case():
    cal = _load()
    assert cal.missing_coverage() == []
    names = cal.names_to_cover()
    assert BUILTIN_NAMES <= names and HOST_NAMES <= names
    assert {f"str.{a}" for a in ATTRIBUTES["str"]} <= names


def test_a_new_name_without_a_case_is_reported(monkeypatch):
    cal = _load()
    monkeypatch.setattr(cal, "BUILTIN_NAMES", BUILTIN_NAMES | {"frobnicate"})
    assert cal.missing_coverage() == ["frobnicate"]


def test_every_corpus_case_deploys_and_ends_within_its_gas():
    """Each case is a valid contract that stops by a VM rule, never by a Python error."""
    cal = _load()
    host = cal.make_host()  # the rotation contracts and the anchor fixture
    for case in cal.CORPUS:
        host.deploy("calib", cal.source_of(case))
        r = host.call("calib", "f", gas=200_000)
        assert not r.ok, case.id
        assert r.error_code.startswith("VM_") and r.error_code != "VM_INTERNAL", (case.id, r)
        assert 0 < r.gas_used <= 200_000
