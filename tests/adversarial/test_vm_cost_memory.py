"""Reproducer 4: memory per gas. `list(zip(s, s, ...5,000 times...))` over a wide str took
861 MB for 9,320 gas and, under a lower memory limit, became a MemoryError receipt with
other gas. Everything that produces data now pays by the bytes it produces (before it
exists), a per-call budget (VM_MEMORY_LIMIT) trips deterministically, and MemoryError never
decides a result: the same calls give the same receipts under different RLIMIT_AS values."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from chainnode.vm import GAS
from chainnode.vm.gas import BYTES_PER_GAS, MAX_TX_MEMORY
from tests.adversarial.vm_cost_util import base_gas, mem, run, source, str_mul, traced_call

REPO = Path(__file__).resolve().parents[2]
WIDE = "\\u4e00"


def zip_body(k: int, wrap: str = "len(list({}))") -> str:
    args = ", ".join(["s"] * k)
    return f"s = '{WIDE}' * 2000\nreturn " + wrap.format(f"zip({args})")


def test_zip_reproducer_is_refused_before_any_work():
    body = zip_body(5000, "list({})")
    r = run(body)
    assert r.error_code == "VM_SIZE_LIMIT"
    assert r.gas_used == base_gas(source(body)) + str_mul(2000, width=2)


def test_zip_pays_per_byte_of_every_tuple_and_char():
    """64 vs 32 columns: each extra column is a take() of 2000 new wide chars (2 gas per
    item, 80 bytes per char) plus 8 more bytes in each of the 2000 tuples."""
    g64, g32 = run(zip_body(64)).gas_used, run(zip_body(32)).gas_used
    load = GAS["code_load"] * (((len(source(zip_body(64))) + 7) // 8)
                               - ((len(source(zip_body(32))) + 7) // 8))
    column = 1 + 2000 * GAS["item"] + mem(2000 * 80)
    tuples = mem(2000 * (56 + 8 * 64)) - mem(2000 * (56 + 8 * 32))
    assert g64 - g32 == 32 * column + tuples + 32 * GAS["node"] + load


HOGS = {
    "zip-kept": f"s = '{WIDE}' * 20000\nxs = []\nwhile True:\n    xs.append(zip(s, s, s, s, s, s, s, s))",
    "enumerate-kept": f"s = '{WIDE}' * 20000\nxs = []\nwhile True:\n    xs.append(enumerate(s))",
    "wide-comprehension": f"s = '{WIDE}' * 90000\nxs = []\nwhile True:\n    xs.append([c for c in s])",
    "wide-split": f"s = '{WIDE} ' * 90000\nxs = []\nwhile True:\n    xs.append(s.split())",
    "empty-lists": "xs = []\nwhile True:\n    xs.append([[] for i in range(1000)])",
    "dict-comp": "xs = []\nwhile True:\n    xs.append({i: () for i in range(1000)})",
    "wide-ints": "x = (1 << 2046) - 1\nxs = []\nwhile True:\n    xs.append(x ^ 1)",
    "stored-lists": "storage.set('k', [[]] * 6000)\nxs = []\nwhile True:\n    xs.append(storage.get('k'))",
    "emoji-concat": "s = '\\U0001f600' * 1000\nxs = []\nwhile True:\n    xs.append(s + s)",
}


@pytest.mark.parametrize("body", list(HOGS.values()), ids=list(HOGS))
def test_peak_memory_is_bounded_by_gas(body):
    r, peak = traced_call(body, gas=2_000_000)
    assert r.error_code in ("VM_OUT_OF_GAS", "VM_SIZE_LIMIT"), r
    assert peak < BYTES_PER_GAS * r.gas_used + 200_000, peak


def test_memory_budget_trips_deterministically():
    body = "xs = []\nwhile True:\n    xs.append('a' * 1000000)"
    r1, r2 = run(body, gas=50_000_000), run(body, gas=50_000_000)
    assert r1.error_code == "VM_MEMORY_LIMIT"
    assert (r1.error_code, r1.gas_used, r1.error_message) == \
        (r2.error_code, r2.gas_used, r2.error_message)
    # about MAX_TX_MEMORY / 16 gas of memory charges were paid before it tripped
    assert abs(r1.gas_used - MAX_TX_MEMORY // 16) < MAX_TX_MEMORY // 16 // 50


_CHILD = r"""
import json, sys
from chainnode.vm.memhost import MemoryHost
bodies = json.loads(sys.argv[1])
out = []
h = MemoryHost()
for i, body in enumerate(bodies):
    lines = "\n".join("    " + line for line in body.split("\n"))
    h.deploy(f"c{i}", "@export\ndef f():\n" + lines + "\n")
    r = h.call(f"c{i}", "f", gas=int(sys.argv[2]))
    out.append([r.ok, r.error_code, r.gas_used, r.error_message])
print(json.dumps(out))
"""


def _run_child(limit_bytes: int, bodies: list[str], gas: int) -> str:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(bodies), str(gas)],
                          capture_output=True, text=True, timeout=300, preexec_fn=limit,
                          env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_receipts_identical_under_two_memory_limits():
    bodies = [zip_body(5000, "list({})"), zip_body(64, "list({})"), *HOGS.values(),
              "xs = []\nwhile True:\n    xs.append('a' * 1000000)"]
    gas = 20_000_000  # at most 20 bytes per gas: 400 MB could be produced; the budget is 256 MiB
    low = _run_child(900 * 1024 * 1024, bodies, gas)
    high = _run_child(8 * 1024 * 1024 * 1024, bodies, gas)
    assert low == high
    results = json.loads(low)
    assert results[0][1] == "VM_SIZE_LIMIT"
    assert all(not ok and code.startswith("VM_") and code != "VM_INTERNAL"
               for ok, code, _, _ in results)


def test_memory_error_is_a_node_fault_not_a_result(monkeypatch):
    """If a node runs out of memory anyway, execute raises instead of returning a result
    whose code and gas would depend on the machine."""
    from chainnode.vm import guards

    def boom(self, it, cap=0):
        raise MemoryError()

    monkeypatch.setattr(guards.Guards, "take", boom)
    with pytest.raises(MemoryError):
        run("return list('abc')")
