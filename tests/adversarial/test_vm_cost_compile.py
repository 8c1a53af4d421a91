"""Reproducer 6: compile cost. The code cache holds 256 programs; 260 contracts called in
rotation recompiled on every call for ~100 gas. Now compile happens once per contract
(compile_contract keeps a marshalled image), every call pays `code_load` per 8 source
chars whatever the cache holds, and a cache miss only unmarshals."""

from __future__ import annotations

import pytest

from chainnode.vm import GAS, machine
from chainnode.vm.memhost import MemoryHost
from tests.adversarial.vm_cost_util import EMPTY_ARGS, base_gas

N = 260  # more than the cache holds


def _src(i: int) -> str:
    helpers = "".join(f"\ndef h{j}(a):\n    return [a, {i}, {{'k': a}}]\n" for j in range(20))
    return f"@export\ndef f():\n    return {i}\n{helpers}"


def _return_int_gas() -> int:
    return EMPTY_ARGS  # copying a one-node return value costs what copying {} does


@pytest.fixture(scope="module")
def host():
    h = MemoryHost()
    for i in range(N):
        h.deploy(f"c{i}", _src(i))
    return h


def test_rotation_gas_is_the_formula_on_every_round(host):
    rounds = []
    for _ in range(2):
        rounds.append([host.call(f"c{i}", "f").gas_used for i in range(N)])
    assert rounds[0] == rounds[1]
    for i in (0, 7, N - 1):
        assert rounds[0][i] == base_gas(_src(i)) + _return_int_gas()
    assert GAS["code_load"] * (len(_src(0)) // 8) > 50  # the load charge is really there


def test_gas_does_not_depend_on_the_cache(host, monkeypatch):
    warm = [host.call(f"c{i}", "f").gas_used for i in range(10)]
    cold = []
    for i in range(10):
        machine._cache.clear()
        cold.append(host.call(f"c{i}", "f").gas_used)
    assert warm == cold
    # a query in between (another node's cache state) changes nothing either
    host.call("c3", "f", readonly=False)
    assert [host.call(f"c{i}", "f").gas_used for i in range(10)] == warm


def test_a_cache_miss_never_recompiles(host, monkeypatch):
    def no_build(source):
        raise AssertionError("compiled during a call")

    monkeypatch.setattr(machine, "_build", no_build)
    for i in range(N):  # every call misses the 256-entry cache at least once here
        r = host.call(f"c{i}", "f")
        assert r.ok and r.value == i


def test_cross_contract_callee_pays_its_load():
    h = MemoryHost()
    callee = "@view\ndef v():\n    return 1\n" + "# padding\n" * 400
    h.deploy("callee", callee)
    short = "@view\ndef v():\n    return 1\n"
    h.deploy("callee2", short)
    callers = ["@export\ndef f():\n    return call('callee', 'v')\n",
               "@export\ndef f():\n    return call('callee2', 'v')\n"]
    h.deploy("caller", callers[0])
    h.deploy("caller2", callers[1])
    g_long = h.call("caller", "f").gas_used
    g_short = h.call("caller2", "f").gas_used

    def load(src: str) -> int:
        return GAS["code_load"] * ((len(src) + 7) // 8)

    assert g_long - g_short == load(callee) + load(callers[0]) - load(short) - load(callers[1])
