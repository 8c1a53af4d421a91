"""Gas: charged where promised, deterministic, final when exhausted, documented."""

from __future__ import annotations

from pathlib import Path

from chainnode.vm import GAS
from chainnode.vm.memhost import MemoryHost

LOOP = '''
@view
def loop(n):
    s = 0
    for i in range(n):
        s += i
    return s


@view
def comp(n):
    return len([i for i in range(n)])


@view
def calls(n):
    for i in range(n):
        noop()
    return n


def noop():
    return 0


@export
def spin():
    while True:
        pass


@export
def write(k, v):
    storage.set(k, v)


@view
def read(k):
    return storage.get(k)
'''


def host() -> MemoryHost:
    h = MemoryHost()
    h.deploy("g", LOOP)
    return h


def test_gas_grows_linearly_with_loop_iterations():
    h = host()
    g10 = h.call("g", "loop", n=10).gas_used
    g20 = h.call("g", "loop", n=20).gas_used
    g30 = h.call("g", "loop", n=30).gas_used
    assert g10 < g20 < g30
    assert g30 - g20 == g20 - g10 > 10 * GAS["loop_iter"]


def test_comprehension_items_and_calls_are_charged():
    h = host()
    c1, c2 = h.call("g", "comp", n=10).gas_used, h.call("g", "comp", n=110).gas_used
    assert c2 - c1 >= 100 * GAS["comp_item"]
    k1, k2 = h.call("g", "calls", n=10).gas_used, h.call("g", "calls", n=110).gas_used
    assert k2 - k1 >= 100 * (GAS["fn_entry"] + GAS["loop_iter"])


def test_same_call_same_gas_every_run():
    results = {host().call("g", "loop", n=50).gas_used for _ in range(5)}
    assert len(results) == 1


def test_out_of_gas_is_final_and_uses_the_limit():
    h = host()
    r = h.call("g", "spin", gas=50_000)
    assert (r.ok, r.error_code, r.gas_used) == (False, "VM_OUT_OF_GAS", 50_000)
    assert r.writes == () and r.events == ()


def test_tiny_limits():
    h = host()
    assert h.call("g", "loop", n=1, gas=0).error_code == "VM_OUT_OF_GAS"
    assert h.call("g", "loop", n=1, gas=GAS["call"]).error_code == "VM_OUT_OF_GAS"


def test_exact_limit_succeeds_and_one_less_fails():
    h = host()
    need = h.call("g", "loop", n=5).gas_used
    assert h.call("g", "loop", n=5, gas=need).ok
    r = h.call("g", "loop", n=5, gas=need - 1)
    assert (r.ok, r.error_code, r.gas_used) == (False, "VM_OUT_OF_GAS", need - 1)


def test_storage_charged_per_byte():
    h = host()
    small = h.call("g", "write", k="k", v="x").gas_used
    big = h.call("g", "write", k="k", v="x" * 1000).gas_used
    assert big - small >= 999 * GAS["storage_byte_write"]
    r_small = h.call("g", "read", k="k")
    h.call("g", "write", k="k", v="x")
    assert r_small.gas_used - h.call("g", "read", k="k").gas_used >= 999 * GAS["storage_byte_read"]


def test_failure_reports_gas_consumed_not_limit():
    h = MemoryHost()
    h.deploy("f", "@export\ndef f():\n    require(False, 'NO')\n")
    r = h.call("f", "f", gas=1_000_000)
    assert r.error_code == "NO" and 0 < r.gas_used < 1_000


def test_gas_table_is_documented():
    doc = (Path(__file__).resolve().parents[3] / "docs" / "contracts.md").read_text("utf-8")
    for name, cost in GAS.items():
        assert f"| `{name}` | {cost} |" in doc, name


def test_documented_example_runs():
    """The worked example in docs/contracts.md deploys and behaves as described."""
    doc = (Path(__file__).resolve().parents[3] / "docs" / "contracts.md").read_text("utf-8")
    source = doc.split("```python\n", 1)[1].split("```", 1)[0]
    h = MemoryHost()
    assert h.deploy("prepaid", source, sender="op", operator="op").ok
    r = h.call("prepaid", "top_up", sender="alice", meter="m1", fen=5000)
    assert r.ok and r.value == 5000
    denied = h.call("prepaid", "charge", sender="alice", meter="m1", kwh_centi=1200,
                    price_per_kwh=5380)
    assert denied.error_code == "PERMISSION_DENIED"
    r = h.call("prepaid", "charge", sender="op", meter="m1", kwh_centi=1200, price_per_kwh=5380)
    assert r.value == {"charged": 646, "balance": 4354}
    assert h.call("prepaid", "get", meter="m1", readonly=True).value == 4354


def test_out_of_gas_propagates_through_every_callback_path():
    src = '''
def burn(x):
    while True:
        pass


@export
def via_sorted():
    return sorted([1, 2, 3], key=burn)


@export
def via_max():
    return max([1, 2], key=burn)


@export
def via_list_sort():
    xs = [2, 1]
    xs.sort(key=burn)


@export
def via_bound_method():
    f = [1].index
    return sorted([1], key=f)[0] + burn(0)


@export
def via_call():
    return call("g2", "spin_view")


@view
def spin_view():
    while True:
        pass
'''
    h = MemoryHost()
    h.deploy("g2", src)
    for method in ("via_sorted", "via_max", "via_list_sort", "via_bound_method", "via_call"):
        r = h.call("g2", method, gas=30_000)
        assert (r.ok, r.error_code, r.gas_used) == (False, "VM_OUT_OF_GAS", 30_000), method
