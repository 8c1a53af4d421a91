"""Red-team finding after issue 8: a wide int used as a dict key was tracked for hash twins
(hashing it and comparing it with up to 8 twins, then the dict compares it along a probe chain
of the same twins) for no gas beyond the statement's nodes: ~0.16-0.19 µs per gas with
2048-bit twins, the VM's highest per-gas cost. Every use of an int beyond 2**61 as a key now
pays `op` + 2 per 64-bit limb."""

from __future__ import annotations

from chainnode.vm import GAS
from chainnode.vm.common import limbs
from chainnode.vm.memhost import MemoryHost

SRC = """
@export
def f(e):
    k = 1 << e
    d = {}
    d[k] = 1
    return d[k] + len(dict([(k, 2)])) + d.get(k)
"""


def _mem(nbytes: int) -> int:
    return GAS["mem"] * ((nbytes + 15) // 16)


def test_wide_int_keys_pay_per_limb_on_every_use():
    h = MemoryHost()
    h.deploy("c", SRC)
    narrow, wide = (h.call("c", "f", e=e, gas=1_000_000) for e in (100, 2000))
    assert narrow.ok and wide.ok and narrow.value == wide.value == 3
    # 1 << e is paid by its size (common.int_bytes); four uses as a key pay 2 per limb each
    int_part = _mem(32 + 4 * (2001 // 30)) - _mem(32 + 4 * (101 // 30))
    key_part = 4 * 2 * (limbs(1 << 2000) - limbs(1 << 100))
    assert (limbs(1 << 2000), limbs(1 << 100)) == (32, 2)
    assert wide.gas_used - narrow.gas_used == int_part + key_part


def test_int_keys_below_2_61_stay_free():
    h = MemoryHost()
    h.deploy("c", SRC)
    a, b = (h.call("c", "f", e=e, gas=1_000_000) for e in (1, 59))
    assert a.ok and b.ok
    assert a.gas_used == b.gas_used  # small ints: no twin tracking, no per-limb charge
