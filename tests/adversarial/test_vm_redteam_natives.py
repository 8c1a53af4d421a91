"""Red-team findings after issue 8: natives whose price assumed the wrong input.

- A bounded search (`s.find(n, 0, 2499)`) was priced by the haystack's length, but CPython
  picks its algorithm by the window's: a 3,800-char string priced as a linear two-way search
  ran the quadratic scan over a 2,499-char window (~0.6 µs per gas). `split` and `replace`
  search shrinking suffixes, so their last searches fall below the thresholds too.
- `str()` of a container priced an ASCII str's repr at two chars per char and one byte per
  char; control characters repr as four chars (`\\x00`), and one printable wide char anywhere
  makes the whole repr 4 bytes per char (~110 bytes per gas, and an under-counted memory
  budget).

Tests assert gas formulas (same source, two argument values), never timings.
"""

from __future__ import annotations

from chainnode.vm import GAS
from chainnode.vm.common import quadratic_window, search_pairs, suffix_pairs, window_len
from chainnode.vm.memhost import MemoryHost

NEEDLE = "'a' * 1247 + 'ba'"  # m = 1249


def _host(body: str, params: str) -> MemoryHost:
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    h = MemoryHost()
    h.deploy("c", f"@export\ndef f({params}):\n{lines}\n")
    return h


def test_bounded_find_pays_for_the_quadratic_window():
    h = _host(f"s = 'a' * 3800\nn = {NEEDLE}\nreturn [s.find(n, 0, b), s.count(n, 0, b)]", "b")
    linear = h.call("c", "f", b=3800, gas=5_000_000)  # whole string: two-way, no pairs
    window = h.call("c", "f", b=2499, gas=5_000_000)  # below 2,500: the quadratic scan
    assert linear.ok and window.ok and window.value == [-1, 0]
    pairs = (2499 - 1249 + 1) * 1249
    assert search_pairs(window_len(3800, (0, 2499)), 1249) == pairs
    assert window.gas_used - linear.gas_used == 2 * (pairs >> 7) * GAS["pairs"]


def test_bounded_bytes_search_and_negative_bounds_use_the_window():
    h = _host("s = b'a' * 3800\nn = b'a' * 1247 + b'ba'\nreturn s.find(n, a, b)", "a, b")
    whole = h.call("c", "f", a=0, b=3800, gas=5_000_000)
    tail = h.call("c", "f", a=-2499, b=3800, gas=5_000_000)
    assert whole.ok and tail.ok
    pairs = (2499 - 1249 + 1) * 1249
    assert window_len(3800, (-2499, 3800)) == 2499
    # the argument -2499 is one codec byte longer than 0: same gas for the copy (per 64 B)
    assert tail.gas_used - whole.gas_used == (pairs >> 7) * GAS["pairs"]


def test_split_and_replace_pay_for_the_quadratic_tail():
    # n >= 2500 but the needle is over a quarter of it: the adaptive regime, priced as
    # quadratic up to 12 * (m >> 2) + 3 chars (docs/contracts.md, Cost model)
    assert quadratic_window(3748, 1249) == 3747
    assert quadratic_window(100_000, 1249) == 3747
    assert quadratic_window(1_000_000, 6) == 29_999
    for call in ("s.split(n)", "s.replace(n, 'x')"):
        h = _host(f"n = {NEEDLE}\ns = n + 'a' * k\nz = {call}\nreturn len(z)", "k")
        r = h.call("c", "f", k=2499, gas=5_000_000)
        assert r.ok, call
        n = 1249 + 2499
        # at least the pairs of the worst suffix window, whatever the whole length's regime
        assert suffix_pairs(n, 1249) == (3747 - 1249 + 1) * 1249
        assert r.gas_used > (suffix_pairs(n, 1249) >> 7) * GAS["pairs"], call


def test_repr_pays_for_escaped_controls_and_wide_chars():
    h = _host("x = ['\\x00' * 100000, c]\nreturn len(str(x))", "c")
    narrow = h.call("c", "f", c="a", gas=10_000_000)
    wide = h.call("c", "f", c="\U0001f600", gas=10_000_000)
    assert narrow.ok and wide.ok
    assert narrow.value == 4 * 100_000 + 2 + 2 + 3 + 2  # '\x00' is four chars each
    # repr chars: list 2 + 4 * 2, the control string 3 + 4 * 100000, then 3 + 2 (ascii 'a')
    # or 3 + 10 (a wide char); bytes: the widest kept char, twice (pieces and result)
    rep_a = 10 + 400_003 + 5
    rep_e = 10 + 400_003 + 13
    mem_a = (80 + 2 * rep_a * 1 + 15) // 16
    mem_e = (80 + 2 * rep_e * 4 + 15) // 16
    assert wide.gas_used - narrow.gas_used == (mem_e - mem_a) * GAS["mem"]


def test_repr_of_printable_ascii_is_unchanged():
    h = _host("x = [c * 1000]\nreturn len(str(x))", "c")
    a = h.call("c", "f", c="a", gas=1_000_000)
    ctl = h.call("c", "f", c="\x01", gas=1_000_000)
    assert a.ok and ctl.ok and a.value == 1002 + 2 and ctl.value == 4002 + 2
    rep_a, rep_c = 10 + 3 + 2000, 10 + 3 + 4000
    assert ctl.gas_used - a.gas_used == ((80 + 2 * rep_c + 15) // 16
                                         - (80 + 2 * rep_a + 15) // 16) * GAS["mem"]
