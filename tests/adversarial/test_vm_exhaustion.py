"""Resource exhaustion corpus: every attempt ends in a failed result within its gas limit,
quickly, with bounded memory, and the next call on the same host behaves exactly as before.

The wall-clock bound is generous (it only has to catch an unbounded loop or a multi-second
native operation that gas failed to price); typical attempts finish in milliseconds.
"""

from __future__ import annotations

import resource
import sys
import time

import pytest

from chainnode.vm.memhost import MemoryHost
from tests.adversarial.vm_cost_util import traced_call

# serial: a wall-clock bound per attack, and the worker's peak RSS (tests/conftest.py)
pytestmark = pytest.mark.serial

GAS = 2_000_000
WALL_BOUND_S = 5.0

HELPERS = '''

def rec(n):
    return rec(n + 1)


def ping(n):
    return pong(n)


def pong(n):
    return ping(n)


def key_rec(x):
    return sorted([1, 2], key=key_rec)


@export
def bounce(n):
    return call("evil", "bounce", n=n + 1)


@view
def canary(n):
    s = 0
    for i in range(n):
        s += i * i
    return s
'''

DAG = "a = [1]\nb = [1]\nfor i in range(30):\n    a = [a, a]\n    b = [b, b]\n"

ATTACKS = [
    # (id, body, acceptable error codes)
    ("infinite-while", "while True:\n    pass", {"VM_OUT_OF_GAS"}),
    ("infinite-for", "for i in range(2 ** 62):\n    pass", {"VM_OUT_OF_GAS"}),
    ("range-too-wide", "for i in range(10 ** 30):\n    pass", {"VM_SIZE_LIMIT"}),
    ("self-growing-loop", "xs = [1]\nfor v in xs:\n    xs.append(v)", {"VM_OUT_OF_GAS", "VM_SIZE_LIMIT"}),
    ("pow-tower", "return 10 ** 10 ** 10", {"VM_SIZE_LIMIT"}),
    ("pow-big", "return 7 ** 100000", {"VM_SIZE_LIMIT"}),
    ("int-doubling", "x = 3\nwhile True:\n    x = x * x", {"VM_SIZE_LIMIT"}),
    ("int-add-doubling", "x = 1\nwhile True:\n    x = x + x", {"VM_SIZE_LIMIT"}),
    ("huge-shift", "return 1 << 10 ** 9", {"VM_SIZE_LIMIT"}),
    ("bigint-division-loop", "x = (1 << 2047) - 1\ny = (1 << 1023) + 1\nwhile True:\n    q = divmod(x, y)\n    r = x % y\n    z = x // y", {"VM_OUT_OF_GAS"}),
    ("pow10-huge", "return pow10(10 ** 6)", {"VM_SIZE_LIMIT"}),
    ("str-mult", "return 'a' * 10 ** 9", {"VM_SIZE_LIMIT"}),
    ("list-mult", "return [0] * 10 ** 9", {"VM_SIZE_LIMIT"}),
    ("tuple-mult", "return (0,) * 10 ** 8", {"VM_SIZE_LIMIT"}),
    ("bytes-mult", "return b'ab' * 10 ** 9", {"VM_SIZE_LIMIT"}),
    ("bytes-alloc", "return bytes(10 ** 9)", {"VM_SIZE_LIMIT"}),
    ("str-doubling", "s = 'ab'\nwhile True:\n    s = s + s", {"VM_SIZE_LIMIT"}),
    ("list-doubling-inplace", "s = [1]\nwhile True:\n    s += s", {"VM_SIZE_LIMIT"}),
    ("list-extend-self", "s = [1]\nwhile True:\n    s.extend(s)", {"VM_SIZE_LIMIT"}),
    ("replace-amplify", "s = 'a' * 1000\nwhile True:\n    s = s.replace('a', 'aaaaaaaaaa')", {"VM_SIZE_LIMIT"}),
    ("replace-empty", "return ('a' * 500000).replace('', 'xyz')", {"VM_SIZE_LIMIT"}),
    ("ljust", "return 'a'.ljust(10 ** 9)", {"VM_SIZE_LIMIT"}),
    ("rjust-center-zfill", "a = 'x'.rjust(10 ** 6)\nb = a.center(10 ** 7)\nreturn b.zfill(10 ** 8)", {"VM_SIZE_LIMIT"}),
    ("upper-expansion", "return ('\ufb03' * 500000).upper()", {"VM_SIZE_LIMIT"}),
    ("join-amplify", "xs = ['a' * 100000] * 100\nreturn ''.join(xs)", {"VM_SIZE_LIMIT"}),
    ("hex-amplify", "return bytes(1000000).hex()", {"VM_SIZE_LIMIT"}),
    ("fstring-amplify", "s = 'a' * 500000\nreturn f'{s}{s}{s}'", {"VM_SIZE_LIMIT"}),
    ("to-bytes-huge", "return (1).to_bytes(10 ** 9, 'big')", {"VM_SIZE_LIMIT"}),
    ("int-from-long-str", "return int('9' * 100000)", {"VM_SIZE_LIMIT"}),
    ("str-of-huge-int", "x = 7 ** 2000\nreturn str(x)", {"VM_SIZE_LIMIT"}),
    ("round-huge-ndigits", "return pow10(700) + round(5, -10 ** 9)", {"VM_SIZE_LIMIT"}),
    ("unbounded-recursion", "return rec(0)", {"VM_CALL_DEPTH"}),
    ("mutual-recursion", "return ping(0)", {"VM_CALL_DEPTH"}),
    ("recursion-through-sort-key", "return key_rec(1)", {"VM_CALL_DEPTH"}),
    ("cross-contract-recursion", "return call('evil', 'bounce', n=0)", {"VM_CALL_DEPTH"}),
    ("deep-nesting-to-storage", "x = []\nfor i in range(100000):\n    x = [x]\nstorage.set('k', x)", {"VM_SIZE_LIMIT"}),
    ("deep-dict-to-storage", "x = {}\nfor i in range(50):\n    x = {'a': x}\nstorage.set('k', x)", {"VM_SIZE_LIMIT"}),
    ("deep-nesting-compare", "x = []\ny = []\nfor i in range(100000):\n    x = [x]\n    y = [y]\nreturn x == y", {"VM_SIZE_LIMIT"}),
    ("deep-nesting-str", "x = []\nfor i in range(100000):\n    x = [x]\nreturn str(x)", {"VM_SIZE_LIMIT"}),
    ("deep-tuple-hash", "t = ()\nfor i in range(100000):\n    t = (t,)\nd = {t: 1}", {"VM_SIZE_LIMIT"}),
    ("deep-tuple-in-dict", "t = ()\nfor i in range(100000):\n    t = (t,)\nreturn t in {}", {"VM_SIZE_LIMIT"}),
    ("dag-compare", DAG + "return a == b", {"VM_OUT_OF_GAS"}),
    ("dag-str", DAG + "return str(a)", {"VM_OUT_OF_GAS", "VM_SIZE_LIMIT"}),
    ("dag-store", DAG + "storage.set('k', a)", {"VM_OUT_OF_GAS", "VM_SIZE_LIMIT"}),
    ("dag-emit", DAG + "emit('E', a=a)", {"VM_OUT_OF_GAS", "VM_SIZE_LIMIT"}),
    ("dag-return", DAG + "return a", {"VM_OUT_OF_GAS", "VM_BAD_RETURN"}),
    ("dag-sorted", DAG + "return sorted([a, b])", {"VM_OUT_OF_GAS"}),
    ("dag-in", DAG + "return b in [a]", {"VM_OUT_OF_GAS"}),
    ("dag-cross-call-args", DAG + "return call('evil', 'canary', n=a)", {"VM_OUT_OF_GAS", "VM_BAD_ARGS"}),
    ("comprehension-bomb", "return len([[[0 for a in range(1000)] for b in range(1000)] for c in range(1000)])", {"VM_OUT_OF_GAS"}),
    ("dict-comprehension-bomb", "return {i: [j for j in range(1000)] for i in range(10 ** 6)}", {"VM_OUT_OF_GAS"}),
    ("list-of-range", "return list(range(10 ** 9))", {"VM_SIZE_LIMIT"}),
    ("sorted-range", "return sorted(range(10 ** 9))", {"VM_SIZE_LIMIT"}),
    ("sum-range", "return sum(range(10 ** 12))", {"VM_SIZE_LIMIT"}),
    ("min-of-enumerate", "return min(enumerate(range(10 ** 9)))", {"VM_OUT_OF_GAS", "VM_SIZE_LIMIT"}),
    ("sum-of-lists", "return sum([[1]] * 10000, [])", {"VM_TYPE_ERROR"}),
    ("membership-scan-loop", "xs = list(range(50000))\nwhile True:\n    z = -1 in xs", {"VM_OUT_OF_GAS"}),
    ("equality-scan-loop", "a = list(range(50000))\nb = list(range(50000))\nwhile True:\n    z = a == b", {"VM_OUT_OF_GAS"}),
    ("slice-copy-loop", "xs = list(range(100000))\nwhile True:\n    ys = xs[:]", {"VM_OUT_OF_GAS"}),
    ("front-delete-loop", "xs = list(range(99999))\nwhile True:\n    del xs[0]\n    xs.append(0)", {"VM_OUT_OF_GAS"}),
    ("front-insert-loop", "xs = list(range(99000))\nwhile True:\n    xs.insert(0, 1)\n    xs.pop()", {"VM_OUT_OF_GAS"}),
    ("substring-search-loop", "s = 'a' * 1000000\nn = 'a' * 99 + 'b'\nwhile True:\n    z = s.find(n)", {"VM_OUT_OF_GAS"}),
    ("int-hash-collisions", "m = (1 << 61) - 1\nd = {}\nfor i in range(100000):\n    d[i * m] = i", {"VM_VALUE_ERROR"}),
    ("tuple-hash-collisions", "m = (1 << 61) - 1\nd = {}\nfor i in range(100000):\n    d[(i * m, 'k')] = i", {"VM_VALUE_ERROR"}),
    ("collision-lookups", "m = (1 << 61) - 1\nd = {}\nfor i in range(100000):\n    z = (i * m) in d", {"VM_VALUE_ERROR"}),
    ("dict-growth", "d = {}\ni = 0\nwhile True:\n    d[i] = i\n    i += 1", {"VM_OUT_OF_GAS"}),
    ("storage-flood", "i = 0\nwhile True:\n    storage.set(i, 'x' * 1000)\n    i += 1", {"VM_OUT_OF_GAS"}),
    ("storage-huge-value", "storage.set('k', 'x' * 1000000)", {"VM_SIZE_LIMIT"}),
    ("event-flood", "while True:\n    emit('E', n=1)", {"VM_SIZE_LIMIT", "VM_OUT_OF_GAS"}),
    ("sm3-loop", "b = bytes(1000000)\nwhile True:\n    h = sm3(b)", {"VM_OUT_OF_GAS"}),
    ("split-explosion", "s = ',' * 1000000\nreturn s.split(',')", {"VM_SIZE_LIMIT"}),
]


@pytest.fixture(scope="module")
def host():
    h = MemoryHost()
    h.deploy("canary", HELPERS.replace("evil", "canary"))
    return h


def test_corpus_size():
    assert len(ATTACKS) >= 40


@pytest.mark.parametrize("body,codes", [(b, c) for _, b, c in ATTACKS], ids=[i for i, _, _ in ATTACKS])
def test_attack_fails_within_gas(host, body, codes):
    baseline = host.call("canary", "canary", n=100)
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    host.deploy("evil", f"@export\ndef f():\n{lines}\n" + HELPERS)
    limit = sys.getrecursionlimit()
    t0 = time.perf_counter()
    r = host.call("evil", "f", gas=GAS)
    elapsed = time.perf_counter() - t0
    assert not r.ok
    assert r.error_code in codes, (r.error_code, r.error_message)
    assert 0 < r.gas_used <= GAS
    if r.error_code == "VM_OUT_OF_GAS":
        assert r.gas_used == GAS
    assert r.writes == () and r.events == () and r.value is None
    assert "0x" not in r.error_message and len(r.error_message) <= 256
    assert elapsed < WALL_BOUND_S, elapsed
    # the host is unaffected: same interpreter limits, same result and gas for the canary
    assert sys.getrecursionlimit() == limit
    again = host.call("canary", "canary", n=100)
    assert (again.ok, again.value, again.gas_used) == (True, baseline.value, baseline.gas_used)


def test_peak_memory_stayed_bounded():
    # ru_maxrss is KiB on Linux: the whole corpus must not have needed more than ~1.5 GiB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 1_500_000


MEMORY_HOGS = {
    "big-strings": "xs = []\nwhile True:\n    xs.append('a' * 100000)",
    "int-lists": "xs = []\nwhile True:\n    xs.append(list(range(10000)))",
    "dict-growth": "d = {}\ni = 0\nwhile True:\n    d[i] = i\n    i += 1",
    "comprehensions": "xs = []\nwhile True:\n    xs.append([i for i in range(1000)])",
    "case-expansion": "xs = []\ns = '\ufb03' * 30000\nwhile True:\n    xs.append(s.upper())",
    "dict-items": "xs = []\nd = {i: i for i in range(1000)}\nwhile True:\n    xs.append(d.items())",
}


@pytest.mark.parametrize("body", list(MEMORY_HOGS.values()), ids=list(MEMORY_HOGS))
def test_memory_is_paid_for(body):
    """Everything a call keeps alive was paid for: peak allocation stays under 24 bytes/gas."""
    gas = 1_000_000
    r, peak = traced_call(body, gas)
    assert r.error_code in ("VM_OUT_OF_GAS", "VM_SIZE_LIMIT")
    assert peak < 24 * gas, peak
