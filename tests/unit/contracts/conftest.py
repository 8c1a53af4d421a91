"""Shared fixtures for the power-utility contract tests.

The harness is registered under a unique module name so that it cannot collide with
helper modules of other test directories.
"""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("contracts_harness", Path(__file__).with_name("harness.py"))
_mod = importlib.util.module_from_spec(_spec)
sys.modules["contracts_harness"] = _mod
_spec.loader.exec_module(_mod)
