"""Values leaving the VM are checked where they leave (issue 8, reproducers 1, 2 and 7).

Every way to push a non-encodable or huge value out of a contract (return value, event, storage
key or value, require message, role, contract or method name, Map prefix, sm3 input) fails the
call cleanly with a fixed code; host arguments pay per byte; error text comes from fixed
templates with bounded, escaped operands, so it always encodes and never names an internal.
"""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.core.block import Receipt
from chainnode.vm import errtext
from chainnode.vm.gas import GAS, MAX_MESSAGE_LEN
from chainnode.vm.hostapi import arg_bytes
from chainnode.vm.memhost import MemoryHost

G = 2_000_000
SUR = "chr(0xD800)"


def fn(body: str, params: str = "") -> str:
    lines = "\n".join("    " + ln for ln in body.splitlines())
    return f"@export\ndef f({params}):\n{lines}\n"


def run(body: str, params: str = "", gas: int = G, **kw):
    h = MemoryHost()
    h.deploy("other", "@export\ndef g(x=0):\n    return x\n")
    h.deploy("evil", fn(body, params) + "\n@view\ndef v():\n    return 1\n")
    return h.call("evil", "f", gas=gas, **kw)


def receipt_of(r) -> bytes:
    """What the executor would hash: the receipt must encode whatever the call did."""
    return Receipt(b"\x00" * 32, 0 if r.ok else 1, r.gas_used, r.value,
                   tuple((e.contract, e.name, e.fields) for e in r.events), r.error_code,
                   r.error_message).encode()


# -- reproducer 1: lone surrogates, every exit ------------------------------------------------

SURROGATE_EXITS = [
    ("require-message", f'require(False, "BAD", "x" + {SUR})', "VM_VALUE_ERROR"),
    ("require-message-low", 'require(False, "BAD", chr(0xDC00) * 3)', "VM_VALUE_ERROR"),
    ("has-role-address", f'return has_role({SUR}, "admin")', "VM_VALUE_ERROR"),
    ("has-role-role", f'return has_role("alice", {SUR})', "VM_VALUE_ERROR"),
    ("call-contract", 'return call(chr(0xDC00), "g")', "VM_NO_CONTRACT"),
    ("call-method", f'return call("other", {SUR})', "VM_VALUE_ERROR"),
    ("call-kwarg-value", f'return call("other", "g", x={SUR})', "VM_BAD_ARGS"),
    ("return-str", f"return {SUR}", "VM_BAD_RETURN"),
    ("return-nested", f'return {{"a": [1, ("b", {SUR})]}}', "VM_BAD_RETURN"),
    ("return-dict-key", f"return {{{SUR}: 1}}", "VM_BAD_RETURN"),
    ("event-field", f'emit("E", x={SUR})', "VM_VALUE_ERROR"),
    ("event-name", f"emit({SUR})", "VM_VALUE_ERROR"),
    ("storage-key", f'storage.set({SUR}, 1)', "VM_VALUE_ERROR"),
    ("storage-key-part", f'storage.set(("a", {SUR}), 1)', "VM_VALUE_ERROR"),
    ("storage-get-key", f"return storage.get({SUR})", "VM_VALUE_ERROR"),
    ("storage-has-key", f"return storage.has({SUR})", "VM_VALUE_ERROR"),
    ("storage-delete-key", f"storage.delete({SUR})", "VM_VALUE_ERROR"),
    ("storage-value", f'storage.set("k", [{SUR}])', "VM_VALUE_ERROR"),
    ("map-prefix", f"m = Map({SUR})\nm['a'] = 1", "VM_VALUE_ERROR"),
    ("map-key", f"m = Map('p')\nm[{SUR}] = 1", "VM_VALUE_ERROR"),
    ("map-value", f"m = Map('p')\nm['a'] = {SUR}", "VM_VALUE_ERROR"),
    ("sm3-input", f"return sm3({SUR})", "VM_VALUE_ERROR"),
    ("key-error-operand", f"d = {{}}\nreturn d[{SUR}]", "VM_KEY_ERROR"),
    ("int-parse", f"return int({SUR})", "VM_VALUE_ERROR"),
]


@pytest.mark.parametrize("body,code", [c[1:] for c in SURROGATE_EXITS],
                         ids=[c[0] for c in SURROGATE_EXITS])
def test_lone_surrogate_fails_cleanly_at_every_exit(body, code):
    r = run(body)
    assert (r.ok, r.error_code) == (False, code), r.error_message
    assert 0 < r.gas_used < G and r.writes == () and r.events == ()
    raw = receipt_of(r)  # must not raise: this is what halted the chain
    assert Receipt.decode(raw).error_code == code
    r.error_message.encode("utf-8")


def test_surrogate_in_arguments_is_refused_as_bad_args():
    r = run("return s", "s", s="a\udc80")
    assert (r.ok, r.error_code) == (False, "VM_BAD_ARGS")
    receipt_of(r)


def test_surrogate_require_costs_what_the_same_valid_require_costs():
    """Both fail at require(); only the code differs: gas = G_OP + arg bytes, as documented."""
    bad = run(f'require(False, "BAD", "x" + {SUR})')
    good = run('require(False, "BAD", "x" + chr(0x41))')
    assert good.error_code == "BAD" and good.error_message == "xA"
    assert bad.gas_used == good.gas_used


# -- reproducer 2: error text is cut before it is processed -----------------------------------

PRICES = 'PRICES = {"a": 1, "b": 2}\n\n\n@view\ndef price(t):\n    return PRICES[t]\n'


@pytest.mark.parametrize("key", [" " * 100_000, "\n" * 100_000, "0x" + "f" * 99_998,
                                 "\udc00" * 20 + "a" * 50_000])
def test_key_error_of_a_huge_key_is_bounded_and_costs_like_any_other(key):
    h = MemoryHost()
    h.deploy("p", PRICES)
    r = h.call("p", "price", readonly=True, t=key)
    if "\udc00" in key:  # arguments are checked on the way in
        assert r.error_code == "VM_BAD_ARGS"
        return
    same_size = h.call("p", "price", readonly=True, t="z" * len(key))
    assert r.error_code == "VM_KEY_ERROR" and len(r.error_message) <= MAX_MESSAGE_LEN
    assert r.error_message.startswith("p:6: KeyError: key \"")
    assert r.error_message.endswith('..." not found')
    assert r.gas_used == same_size.gas_used  # nothing after the meter depends on content
    receipt_of(r)


def test_escape_cuts_before_it_scans():
    text = "\x00" * 10 + "a" * 1_000_000
    assert errtext.escape(text, 12) == "\\x00" * 10 + "aa..."
    assert errtext.operand(10**40) == "<int of 133 bits>"
    assert errtext.operand([1]) == "<list>" and errtext.operand(b"x") == "<bytes>"
    assert errtext.bounded("\ud800" * 5000).encode("utf-8")
    assert len(errtext.bounded("x" * 10_000)) == MAX_MESSAGE_LEN


# -- reproducer 7: no Python internals in receipts ----------------------------------------------

INTERNAL_TRIGGERS = [
    "xs = [3, 1]\nxs.sort(foo=1)",
    "xs = [3, 1]\nxs.sort(key=1)",
    "return sorted([1], nope=2)",
    "return 'a'.join(1)",
    "return 'a'.split(1, 2, 3)",
    "return {}.get()",
    "return [1].index(5)",
    "return 'abc'.index('z')",
    "return int('zz')",
    "return 1 + 'a'",
    "return len(5)",
    "return divmod(1, 0)",
    "return min()",
    "return max([])",
    "return ctx.sender + 1",
    "return storage.get()",
    "return str.upper(1)",
    "return [1][5]",
    "return {'a': 1}['b']",
]


@pytest.mark.parametrize("body", INTERNAL_TRIGGERS)
def test_native_error_text_is_a_fixed_template(body):
    r = run(body)
    assert not r.ok
    msg = r.error_message
    for internal in ("Methods", "m_list", "_vm", "object", "<", "Runtime", "Guards", "self",
                     "chainnode", "got an unexpected", "positional argument"):
        assert internal not in msg, (body, msg)
    text = msg.split(": ", 1)[1]
    if text.split(":")[0].endswith("Error"):  # a native exception: one of the fixed texts
        fixed = {t for _, _, t in errtext.NATIVE}
        assert text in fixed or text.startswith("KeyError: key "), msg


def test_native_messages_do_not_depend_on_internal_names(monkeypatch):
    """Renaming a guard must not change a receipt: the message has no qualified names."""
    from chainnode.vm import methods

    before = run("xs = [3, 1]\nxs.sort(foo=1)")
    for name in dir(methods.Methods):
        attr = getattr(methods.Methods, name)
        if name.startswith("m_") and callable(attr):
            monkeypatch.setattr(attr, "__qualname__", "Renamed." + name + "_x", raising=False)
    after = run("xs = [3, 1]\nxs.sort(foo=1)")
    assert receipt_of(before) == receipt_of(after)


# -- reproducer 7: host arguments pay per byte ---------------------------------------------------

HOST_LOOPS = {
    "has_role": ("has_role(s, 'x')", lambda n: GAS["has_role"] + arg_bytes("a" * n, "x")),
    "call-contract": ("call(s[:64], 'g')", None),
    "sm3": ("sm3(s)", lambda n: GAS["sm3"] + arg_bytes("a" * n)
            + ((n + 63) >> 6) * GAS["sm3_chunk"]),
}


@pytest.mark.parametrize("n", [1, 63, 64, 65, 5_000, 1_000_000])
def test_has_role_charges_per_byte_of_its_arguments(n):
    """gas(k=2) - gas(k=1) is one loop iteration plus one has_role; the per-byte part is
    exactly arg_bytes (G_CHUNK per started 64 characters of each argument)."""
    body = "s = 'a' * n\nfor i in range(k):\n    has_role(s, 'x')"
    d = run(body, "n, k", n=n, k=2).gas_used - run(body, "n, k", n=n, k=1).gas_used
    d1 = run(body, "n, k", n=1, k=2).gas_used - run(body, "n, k", n=1, k=1).gas_used
    assert d - d1 == arg_bytes("a" * n) - arg_bytes("a")
    assert d1 >= GAS["has_role"] + 2 * GAS["chunk"]


@pytest.mark.parametrize("host_call", ["sm3(s)", "call(s, 'g')", "call('other', s)",
                                       "require(False, 'C', s)", "emit(s)", "Map(s)",
                                       "has_role('alice', s)"])
@pytest.mark.parametrize("n", [64, 640_000])
def test_host_arguments_are_charged_by_size(host_call, n):
    body = f"s = 'a' * n\nfor i in range(k):\n    {host_call}"
    gas = {k: run(body, "n, k", n=n, k=k) for k in (1, 2)}
    small = {k: run(body, "n, k", n=1, k=k) for k in (1, 2)}
    if not gas[1].ok:  # refused on size: it failed before doing size-dependent work
        assert gas[1].error_code in ("VM_SIZE_LIMIT", "VM_VALUE_ERROR", "VM_NO_CONTRACT", "C",
                                     "VM_BAD_ARGS", "VM_NO_METHOD")
        assert gas[1].gas_used < G
        return
    per_call = gas[2].gas_used - gas[1].gas_used
    per_small = small[2].gas_used - small[1].gas_used
    assert per_call - per_small >= ((n + 63) >> 6) * GAS["chunk"] - GAS["chunk"]


def test_one_megabyte_address_no_longer_costs_a_flat_fee():
    r = run("s = 'a' * 1_000_000\nreturn has_role(s, 'admin')")
    assert r.ok and r.value is False
    assert r.gas_used > arg_bytes("a" * 1_000_000)  # 62,500 for the address alone


# -- reproducer 7: reserved codes, caller kinds, frozen callee -----------------------------------

@pytest.mark.parametrize("code", ["TX_NOT_MEMBER", "VM_OUT_OF_GAS", "SYS_HALT", "VM_", "TX_"])
def test_require_refuses_reserved_code_prefixes(code):
    r = run(f"require(False, '{code}', 'impersonating the chain')")
    assert r.error_code == "VM_BAD_CODE"


def test_require_accepts_ordinary_codes_and_bounds_messages():
    r = run("require(False, 'TXN_LIMIT', 'm' * 100_000)")
    assert r.error_code == "TXN_LIMIT" and r.error_message == "m" * MAX_MESSAGE_LEN


def test_ctx_caller_kind_tells_accounts_from_contracts():
    h = MemoryHost()
    h.deploy("callee", "@export\ndef who():\n    return [ctx.caller, ctx.caller_kind, "
                       "ctx.sender]\n")
    h.deploy("proxy", "@export\ndef go():\n    return call('callee', 'who')\n")
    direct = h.call("callee", "who", sender="acct1")
    via = h.call("proxy", "go", sender="acct1")
    assert direct.value == ["acct1", "account", "acct1"]
    assert via.value == ["proxy", "contract", "acct1"]


def test_encoded_receipts_of_the_corpus_are_codec_canonical():
    for _, body, _code in SURROGATE_EXITS:
        raw = receipt_of(run(body))
        assert codec.encode(codec.decode(raw)) == raw
