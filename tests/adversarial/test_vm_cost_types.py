"""Reproducer 3: type objects reachable through builtins. `enumerate[...]` used to make a
types.GenericAlias whose compare/hash/count walk their arguments in C, unmetered. Builtins
are now plain functions (or TypeProxy constructors): only data values can be subscripted."""

from __future__ import annotations

import pytest

from chainnode.vm import GAS
from chainnode.vm.api import CallContext
from chainnode.vm.memhost import MemoryHost
from chainnode.vm.names import BUILTIN_NAMES, HOST_NAMES
from chainnode.vm.runtime import Runtime
from tests.adversarial.vm_cost_util import base_gas, run, source

SUBSCRIPTABLE_NAMES = sorted(BUILTIN_NAMES | (HOST_NAMES - {"ctx", "storage"}))


def _runtime_builtins() -> dict:
    ctx = CallContext("a", 1, 0, "", "c")
    rt = Runtime(MemoryHost(), ctx, 1000, lambda c: None)
    try:
        return dict(rt.builtins)
    finally:
        rt.close()


def test_no_builtin_is_a_type_or_generic():
    for name, value in _runtime_builtins().items():
        assert not isinstance(value, type), name
        assert not hasattr(value, "__class_getitem__"), name
        assert not hasattr(type(value), "__getitem__"), name


@pytest.mark.parametrize("name", ["enumerate", "range", "zip", "reversed", "len", "bool",
                                  "int", "str", "list", "dict", "tuple", "bytes", "sorted",
                                  "min", "isinstance", "require", "sm3", "Map", "emit", "call"])
def test_subscripting_a_builtin_fails_cleanly_at_static_gas(name):
    body = f"return {name}[1]"
    r = run(body)
    assert (r.ok, r.error_code) == (False, "VM_TYPE_ERROR"), r
    # nothing but the static charges ran: the subscript itself costs nothing and made nothing
    assert r.gas_used == base_gas(source(body))
    assert r.writes == () and r.events == ()


def test_every_visible_name_is_covered_above():
    assert {"enumerate", "range", "zip", "reversed"} <= set(SUBSCRIPTABLE_NAMES)


def test_the_generic_alias_count_reproducer_cannot_be_built():
    body = ("xs = [enumerate[tuple(range(100000))] for i in range(1000)]\n"
            "return xs.count(xs[0])")
    r = run(body, gas=5_000_000)
    assert r.error_code == "VM_TYPE_ERROR"
    assert r.gas_used < 5_000_000


def test_type_proxies_still_work_as_types():
    body = ("return [isinstance(1, int), isinstance(True, bool), isinstance(range(3), range),"
            " isinstance('a', (int, str)), list(range(3)), bool(0), int('7'), str(5)]")
    r = run(body)
    assert r.ok and r.value == [True, True, True, True, [0, 1, 2], False, 7, "5"]


def test_iterator_builtins_return_paid_lists():
    body = ("a = list(enumerate('ab', 1))\nb = list(zip([1, 2, 3], 'xy'))\n"
            "c = list(reversed((1, 2)))\nreturn [a, b, c]")
    r = run(body)
    assert r.ok and r.value == [[[1, "a"], [2, "b"]], [[1, "x"], [2, "y"]], [2, 1]]
    assert r.gas_used > base_gas(source(body)) + 3 * GAS["item"]
