"""Reproducer 5: natives whose worst case is super-linear were charged linearly. Each is now
priced by its algorithm's worst case (quadratic pairs of CPython's searches) or has its
arguments capped; these tests pin the exact gas so a regression in pricing shows up."""

from __future__ import annotations

import pytest

from chainnode.vm import GAS
from tests.adversarial.vm_cost_util import base_gas, run, search, source, str_mul

M61 = (1 << 61) - 1


def test_rfind_reproducer_runs_out_of_gas_instead_of_stalling():
    # ('a'*100000).rfind('ab'+'a'*49998): 2.5e9 pairs, about 19.5M gas for the search alone
    assert search(100_000, 50_000, reverse=True) > 19_000_000
    for method in ("rfind", "rindex", "rpartition", "rsplit"):
        r = run(f"return ('a' * 100000).{method}('ab' + 'a' * 49998)", gas=5_000_000)
        assert (r.error_code, r.gas_used) == ("VM_OUT_OF_GAS", 5_000_000), method


@pytest.mark.parametrize("method,reverse", [("find", False), ("count", False),
                                            ("rfind", True), ("rindex", True)])
def test_search_gas_follows_the_pair_formula(method, reverse):
    """Two haystack sizes, same needle: the gas difference is exactly the extra bytes of the
    haystack plus the extra pairs the search may compare."""
    m = 97
    def body(n):
        needle = "'ab' + 'a' * 95" if reverse else "'a' * 95 + 'ba'"
        hay = f"'a' * {n} + n" if method == "rindex" else f"'a' * {n}"
        return f"n = {needle}\ns = {hay}\nreturn s.{method}(n)"
    small, big = 5_000, 29_000
    r1, r2 = run(body(small)), run(body(big))
    assert r1.ok and r2.ok
    extra = m if method == "rindex" else 0
    expected = (str_mul(big) - str_mul(small)
                + search(big + extra, m, reverse) - search(small + extra, m, reverse))
    if method == "rindex":  # 'a' * n + needle: the concatenation is paid by its bytes too
        expected += ((80 + big + m + 15) // 16) - ((80 + small + m + 15) // 16)
    assert r2.gas_used - r1.gas_used == expected
    assert search(big, m, reverse) > 20_000  # quadratic regime really is priced


def test_forward_search_above_cpython_thresholds_is_linear():
    assert search(1_000_000, 200) == 1 + (1_000_200 >> 4)
    assert search(29_999, 99) > 20_000  # below the threshold: pairs


@pytest.mark.parametrize("body,code", [
    ("return ('a' * 100000).strip('b' * 10000 + 'a')", "VM_SIZE_LIMIT"),
    ("return ('a' * 100000).lstrip('b' * 257)", "VM_SIZE_LIMIT"),
    ("return 'abc'.startswith(tuple([str(i) for i in range(100000)]))", "VM_SIZE_LIMIT"),
    ("return 'abc'.endswith(tuple([str(i) for i in range(65)]))", "VM_SIZE_LIMIT"),
    ("return isinstance(1, tuple([int] * 65))", "VM_SIZE_LIMIT"),
])
def test_uncapped_arguments_are_refused(body, code):
    r = run(body, gas=50_000_000)
    assert r.error_code == code, r


def test_strip_chars_priced_per_pair():
    def body(k):
        return f"s = 'a' * 50000\nc = 'b' * {k} + 'a'\nreturn len(s.strip(c))"
    r1, r2 = run(body(15)), run(body(255))
    assert r1.value == r2.value == 0
    n = 50_000
    def chars(k):  # 'b' * k + 'a': a repeat and a concatenation, each paid by its bytes
        return str_mul(k) + str_mul(k + 1)
    expected = chars(255) - chars(15) + ((n * 256) >> 7) - ((n * 16) >> 7)
    assert r2.gas_used - r1.gas_used == expected


def test_colliding_int_keys_in_a_dict_display_are_refused():
    keys = ", ".join(f"{i * M61}: {i}" for i in range(1, 10))
    body = f"return {{{keys}}}"
    r = run(body)
    assert r.error_code == "VM_VALUE_ERROR"
    # nine wide constant keys hash alike: eight are tracked (200 bytes each), the ninth fails;
    # each use of a wide int as a key pays op + 2 per limb first
    per_limb = sum(GAS["op"] + 2 * ((i * M61).bit_length() // 64 + 1) for i in range(1, 10))
    assert r.gas_used == (base_gas(source(body)) + 8 * ((200 + 15) // 16) * GAS["mem"]
                          + per_limb)


def test_colliding_keys_in_dict_comprehension_and_subscripts_are_refused():
    for body in (f"return {{i * {M61}: i for i in range(100)}}",
                 f"d = {{}}\nfor i in range(100):\n    d[i * {M61}] = i"):
        assert run(body).error_code == "VM_VALUE_ERROR"


def test_small_int_keys_are_not_tracked():
    r = run("return len({i: i for i in range(50000)})", gas=5_000_000)
    assert r.ok and r.value == 50_000


def test_sorting_deep_keys_pays_per_level():
    def body(n):
        return f"xs = [[1] * 500 + [i] for i in range({n})]\nreturn len(sorted(xs))"
    r = run(body(512), gas=50_000_000)
    assert r.ok
    # the keys are visited once by the guard (about 1500 gas per key) and charged again for
    # each of the 9 further levels of the merge: well above the old n log n * 2
    assert r.gas_used > 512 * 1500 * 10
