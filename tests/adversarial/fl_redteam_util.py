"""Shared by the test_fl_redteam_* files: the power contracts' test harness (the real VM with
an in-memory chain), loaded under the name the contract tests use."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "contracts_harness"


def harness():
    mod = sys.modules.get(_NAME)
    if mod is None:
        path = Path(__file__).resolve().parents[1] / "unit" / "contracts" / "harness.py"
        spec = importlib.util.spec_from_file_location(_NAME, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[_NAME] = mod
        spec.loader.exec_module(mod)
    return mod
