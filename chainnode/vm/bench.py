"""VM micro-benchmarks: call overhead, metering slowdown, and worst-case time per gas unit.

Run with `python -m chainnode.vm.bench`. Numbers are machine-dependent. These are typical
patterns; the adversarial worst case (every native with its worst shapes, µs and bytes per
gas) is scripts/vm_calibrate.py, and that is what a block gas limit should be derived from.
"""

from __future__ import annotations

import argparse
import time

from chainnode.vm.machine import execute
from chainnode.vm.memhost import MemoryHost

COUNTER = '''
@export
def bump(n):
    a = storage.get("a", 0)
    b = storage.get("b", 0)
    storage.set("a", a + n)
    storage.set("b", b + a)
    return a
'''

LOOP_BODY = '''
    s = 0
    for i in range(n):
        s = (s + i * i) % 1000003
        if s & 1:
            s = s + 1
    return s
'''

LOOP_CONTRACT = "@view\ndef work(n):" + LOOP_BODY

# Patterns that stress one guard each; the slowest µs/gas among them bounds a block's time.
WORST_CASES = {
    "empty loop": "while True:\n        pass",
    "int arithmetic": "i = 0\n    while True:\n        i = i + 1",
    "function calls": "while True:\n        g()",
    "2048-bit divide": "x = (1 << 2040) - 1\n    y = (1 << 1020) + 7\n    while True:\n        z = x // y",
    "2048-bit multiply": "x = (1 << 1020) - 1\n    while True:\n        z = x * x",
    "isqrt 2048-bit": "x = (1 << 2040) - 1\n    while True:\n        z = isqrt(x)",
    "deep compare": "a = list(range(1000))\n    b = list(range(1000))\n    while True:\n        z = a == b",
    "DAG compare": "a = [1]\n    b = [1]\n    for i in range(30):\n        a = [a, a]\n        b = [b, b]\n    return a == b",
    "substring search": "s = 'a' * 1000000\n    n = 'a' * 99 + 'b'\n    while True:\n        z = s.find(n)",
    "str(list)": "x = [1] * 10000\n    while True:\n        z = str(x)",
    "tuple keys": "d = {}\n    k = (1, 2, 3, 4, 5, 6, 7)\n    while True:\n        d[k] = 1",
    "sm3 1 MB": "b = bytes(1000000)\n    while True:\n        z = sm3(b)",
    "storage writes": "i = 0\n    while True:\n        storage.set(i, i)\n        i += 1",
    "events": "while True:\n        emit('E', a=[1, 2, 3])",
    "cross-contract calls": "while True:\n        z = call('worst', 'v')",
}


def _timeit(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best


def call_overhead(calls: int) -> tuple[float, int]:
    host = MemoryHost()
    host.deploy("counter", COUNTER)
    compiled = host.contracts["counter"]
    ctx = host.context("alice")
    result = execute(compiled, "bump", {"n": 1}, ctx, host, 1_000_000)
    host.apply(result)

    def one() -> None:
        execute(compiled, "bump", {"n": 1}, ctx, host, 1_000_000)

    return _timeit(one, calls) * 1e6, result.gas_used


def loop_slowdown(n: int) -> tuple[float, float, int]:
    host = MemoryHost()
    host.deploy("loop", LOOP_CONTRACT)
    ns: dict = {}
    exec("def work(n):" + LOOP_BODY, ns)  # noqa: S102 - the same function, unmetered
    plain = ns["work"]
    r = host.call("loop", "work", n=n, gas=10**9)
    assert r.ok and r.value == plain(n)
    vm_s = _timeit(lambda: host.call("loop", "work", n=n, gas=10**9), 1)
    py_s = _timeit(lambda: plain(n), 1)
    return vm_s, py_s, r.gas_used


def worst_case(gas: int) -> list[tuple[str, str, float]]:
    host = MemoryHost()
    rows = []
    for name, body in WORST_CASES.items():
        src = f"@export\ndef f():\n    {body}\n\ndef g():\n    return 1\n\n@view\ndef v():\n    return 1\n"
        host.deploy("worst", src)
        best = float("inf")
        for _ in range(3):  # best of three: other load on the machine only adds time
            t0 = time.perf_counter()
            r = host.call("worst", "f", gas=gas)
            best = min(best, (time.perf_counter() - t0) * 1e6 / max(1, r.gas_used))
        rows.append((name, r.error_code or "ok", best))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--loop", type=int, default=200_000)
    parser.add_argument("--gas", type=int, default=3_000_000)
    args = parser.parse_args(argv)

    us, gas = call_overhead(args.calls)
    print(f"simple call (2 reads + 2 writes): {us:.1f} us/call, {gas} gas")
    vm_s, py_s, loop_gas = loop_slowdown(args.loop)
    print(f"loop of {args.loop}: vm {vm_s * 1e3:.1f} ms, plain Python {py_s * 1e3:.1f} ms, "
          f"slowdown {vm_s / py_s:.1f}x, {loop_gas} gas ({vm_s * 1e6 / loop_gas:.4f} us/gas)")
    rows = worst_case(args.gas)
    for name, code, per_gas in sorted(rows, key=lambda r: -r[2]):
        print(f"  {name:24s} {code:14s} {per_gas:.4f} us/gas")
    worst = max(r[2] for r in rows)
    print(f"worst case: {worst:.4f} us/gas -> 10M gas <= {worst * 10:.2f} s on this machine")


if __name__ == "__main__":
    main()
