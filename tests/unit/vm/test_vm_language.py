"""The language subset behaves like Python where it is allowed, and fails with codes where not."""

from __future__ import annotations

import pytest

from chainnode.vm.memhost import MemoryHost


def run(body: str, gas: int = 5_000_000, **kwargs):
    lines = "\n".join("    " + line for line in body.strip("\n").split("\n"))
    params = ", ".join(kwargs)
    src = f"@export\ndef f({params}):\n{lines}\n\n\ndef sq(x):\n    return x * x\n"
    h = MemoryHost()
    h.deploy("t", src)
    return h.call("t", "f", gas=gas, **kwargs)


def value(body: str, **kwargs):
    r = run(body, **kwargs)
    assert r.ok, (r.error_code, r.error_message)
    return r.value


CASES = [
    ("return 7 // 2, -7 // 2, 7 % 3, -7 % 3, 2 ** 10, 1 << 5, 256 >> 3", [3, -4, 1, 2, 1024, 32, 32]),
    ("return 6 & 3, 6 | 3, 6 ^ 3, ~5, -(3), +4, not 0", [2, 7, 5, -6, -3, 4, True]),
    ("return 'ab' + 'cd', 'ab' * 2, 3 * [0], (1,) + (2,), b'x' * 2", ["abcd", "abab", [0, 0, 0], [1, 2], b"xx"]),
    ("return [x * 2 for x in range(4) if x != 1]", [0, 4, 6]),
    ("return {k: v for k, v in [('a', 1), ('b', 2)]}", {"a": 1, "b": 2}),
    ("return [(i, j) for i in range(2) for j in range(i, 2)]", [[0, 0], [0, 1], [1, 1]]),
    ("d = {'b': 1, 'a': 2}\nreturn d.keys(), d.values(), d.items()", [["b", "a"], [1, 2], [["b", 1], ["a", 2]]]),
    ("d = {'b': 1}\nd['a'] = 2\nd.update({'c': 3}, e=5)\nreturn d, d.get('x', 9), d.pop('b'), d.setdefault('z', 0)", [{"a": 2, "c": 3, "e": 5, "z": 0}, 9, 1, 0]),
    ("return sorted([3, 1, 2]), sorted(['b', 'a'], reverse=True), sorted([-3, 2, -1], key=abs)", [[1, 2, 3], ["b", "a"], [-1, 2, -3]]),
    ("return sorted([[2, 'b'], [1, 'z'], [2, 'a']])", [[1, "z"], [2, "a"], [2, "b"]]),
    ("xs = [3, 1, 2]\nxs.sort(key=sq, reverse=True)\nreturn xs", [3, 2, 1]),
    ("return min(3, 1, 2), max([4, 9, 2]), min([], default=7), max(['a', 'bb'], key=len)", [1, 9, 7, "bb"]),
    ("return sum([1, 2, 3]), sum(range(5), 10), any([0, 1]), all([1, 0]), all([])", [6, 20, True, False, True]),
    ("return len('abc'), abs(-3), divmod(7, 2), hex(255), ord('a'), chr(98)", [3, 3, [3, 1], "0xff", 97, "b"]),
    ("return int('42'), int(' -7 '), int('ff', 16), int(True), str(12), str(None), str([1, 'a'])", [42, -7, 255, 1, "12", "None", "[1, 'a']"]),
    ("return bool([]), list('ab'), tuple([1]), dict([('a', 1)], b=2), bytes([65, 66]), bytes('hi', 'utf-8')", [False, ["a", "b"], [1], {"a": 1, "b": 2}, b"AB", b"hi"]),
    ("return list(enumerate('ab')), list(zip([1, 2], 'xy')), list(reversed([1, 2, 3]))", [[[0, "a"], [1, "b"]], [[1, "x"], [2, "y"]], [3, 2, 1]]),
    ("return round(7), round(1234, -2), round(1250, -2), round(-1250, -2)", [7, 1200, 1200, -1200]),
    ("return isinstance(1, int), isinstance(True, int), isinstance('a', (list, str)), isinstance([], dict), isinstance(1, bool)", [True, True, True, False, False]),
    ("return div_half_up(5, 2), div_half_up(-5, 2), div_half_up(5, -2), div_half_up(4, 3), div_half_up(-4, 3), div_half_up(0, 7)", [3, -3, -3, 1, -1, 0]),
    ("return muldiv(6456, 100, 1000), muldiv(-6455, 1, 10), isqrt(17), pow10(3)", [646, -646, 4, 1000]),
    ("return sm3('abc'), sm3(b'abc') == sm3('abc')", ["66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", True]),
    ("s = ' Hello, World '\nreturn s.strip().lower(), s.split(','), s.replace('l', 'L', 2), s.find('o'), s.startswith(' H')", ["hello, world", [" Hello", " World "], " HeLLo, World ", 5, True]),
    ("return '-'.join(['a', 'b']), 'ab'.upper(), '5'.zfill(3), 'a'.ljust(3, '.'), 'x'.center(3), 'a=b'.partition('=')", ["a-b", "AB", "005", "a..", " x ", ["a", "=", "b"]]),
    ("return 'é'.encode('utf-8'), b'\\xc3\\xa9'.decode('utf-8'), b'\\x01\\xff'.hex(), (258).to_bytes(2, 'big'), (255).bit_length()", [b"\xc3\xa9", "é", "01ff", b"\x01\x02", 8]),
    ("x = 5\nname = 'kwh'\nreturn f'{x} {name} {[1]} {None}'", "5 kwh [1] None"),
    ("xs = [1, 2, 3, 4]\nreturn xs[1:3], xs[::-1], xs[-1], 'hello'[1:4], (1, 2, 3)[:2], list(range(10)[2:5])", [[2, 3], [4, 3, 2, 1], 4, "ell", [1, 2], [2, 3, 4]]),
    ("xs = [1]\nys = xs\nxs += [2]\nd = {'a': 1}\ne = d\nd |= {'b': 2}\nreturn ys, e", [[1, 2], {"a": 1, "b": 2}]),
    ("d = {'n': 1}\nd['n'] += 5\nxs = [1, 2]\nxs[0] *= 10\nxs[1] -= 1\nxs[1] //= 1\nreturn d, xs", [{"n": 6}, [10, 1]]),
    ("xs = [1, 2, 3]\ndel xs[0]\nd = {'a': 1, 'b': 2}\ndel d['a']\nreturn xs, d", [[2, 3], {"b": 2}]),
    ("t = {}\nt[(1, 'a')] = 5\nreturn t[(1, 'a')], (1, 'a') in t, 3 in range(5), 'b' in 'abc', [1] in [[1]]", [5, True, True, True, True]),
    ("i = 0\nwhile True:\n    i += 1\n    if i > 5:\n        break\nelse:\n    i = -1\nreturn i", 6),
    ("n = 0\nfor i in range(10):\n    if i % 2:\n        continue\n    n += i\nelse:\n    n += 100\nreturn n", 120),
    ("a = 3\nreturn 1 < a < 5, 1 < a > 5, a == 3 != 4", [True, False, True]),
    ("x = None\nreturn x is None, x is not None, True if x is None else False", [True, False, True]),
    ("a, (b, c) = 1, [2, 3]\nreturn a + b + c", 6),
    ("return sq(4) + sq(x=3)", 25),
    ("xs = [3, 1]\nf = xs.append\nf(5)\nreturn xs, xs.index(5), xs.count(1), xs.pop(0), xs", [[1, 5], 2, 1, 3, [1, 5]]),
]


@pytest.mark.parametrize("body,expected", CASES, ids=[str(i) for i in range(len(CASES))])
def test_semantics(body, expected):
    assert value(body) == expected


ERRORS = [
    ("return 1 // 0", "VM_ZERO_DIV"),
    ("return 5 % 0", "VM_ZERO_DIV"),
    ("return div_half_up(1, 0)", "VM_ZERO_DIV"),
    ("return {}['x']", "VM_KEY_ERROR"),
    ("return [][0]", "VM_INDEX_ERROR"),
    ("return 'a' + 1", "VM_TYPE_ERROR"),
    ("return undefined_later", "VM_TYPE_ERROR"),
    ("return int('x')", "VM_VALUE_ERROR"),
    ("return int('1.5')", "VM_VALUE_ERROR"),
    ("return 2 ** -1", "VM_VALUE_ERROR"),
    ("return 1 << -1", "VM_VALUE_ERROR"),
    ("return isqrt(-1)", "VM_VALUE_ERROR"),
    ("return pow10(-1)", "VM_VALUE_ERROR"),
    ("return max([])", "VM_VALUE_ERROR"),
    ("return ctx.get", "VM_TYPE_ERROR"),
    ("return ctx.sender()", "VM_TYPE_ERROR"),
    ("return [1].get(0)", "VM_TYPE_ERROR"),
    ("return storage.keys()", "VM_TYPE_ERROR"),
    ("return 'a'.encode('latin-1')", "VM_VALUE_ERROR"),
    ("return {[1]: 2}", "VM_TYPE_ERROR"),
    ("return sum(['a'])", "VM_TYPE_ERROR"),
    ("return round(1, 'x')", "VM_TYPE_ERROR"),
    ("return isinstance(1, sq)", "VM_TYPE_ERROR"),
    ("x = 'ab'\nreturn x % 2", "VM_TYPE_ERROR"),
    ("return [1, 2] < [1, 'a']", "VM_TYPE_ERROR"),
    ("x = {'a': 1}\nreturn x.keys() | x.keys()", "VM_TYPE_ERROR"),
    ("return 'abc'[1:2:0]", "VM_VALUE_ERROR"),
]


@pytest.mark.parametrize("body,code", ERRORS, ids=[c[0] for c in ERRORS])
def test_errors(body, code):
    r = run(body + ("\nundefined_later = 2" if "undefined_later" in body else ""))
    assert not r.ok
    assert r.error_code == code, r.error_message
    assert r.value is None and r.writes == ()


def test_error_message_names_contract_and_line():
    r = run("x = 1\ny = 0\nreturn x // y")
    assert r.error_code == "VM_ZERO_DIV"
    assert r.error_message.startswith("t:5: ZeroDivisionError")


def test_messages_never_contain_addresses():
    for body in ("return str(sq)", "return sq < sq", "return {sq: 1}", "return sq + 1",
                 "return [sq] < [ctx]", "return ctx[0]"):
        r = run(body)
        assert not r.ok and "0x" not in r.error_message, (body, r.error_message)


def test_keyword_names_do_not_collide_with_guard_parameters():
    assert value("return dict(x=1, other=2)") == {"x": 1, "other": 2}
    assert value("d = {}\nd.update(other=1, d=2)\nreturn d") == {"other": 1, "d": 2}
    r = run("storage.set(key='k', value=3)\nreturn storage.get(key='k'), storage.has(key='k')")
    assert r.ok and r.value == [3, True]


def test_many_distinct_tuple_and_big_int_keys_are_fine():
    body = "d = {}\nfor i in range(3000):\n    d[(i, 'a')] = i\n    d[10 ** 20 + i] = i\nreturn len(d)"
    assert value(body) == 6000
