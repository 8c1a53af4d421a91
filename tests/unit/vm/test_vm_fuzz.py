"""Property test: random programs from the allowed subset never crash the VM, stay within gas,
and give identical results on a fresh VM instance."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chainnode.vm import ContractRejected, machine
from chainnode.vm.memhost import MemoryHost

GAS = 200_000

atoms = st.sampled_from([
    "0", "1", "-1", "7", "2 ** 64", "'ab'", "b'xy'", "''", "None", "True", "[]", "[1, 2]",
    "(1, 'a')", "{'k': 1}", "x", "y", "s", "xs", "d", "len(xs)", "ctx.height", "ctx.sender",
])
binops = st.sampled_from(["+", "-", "*", "//", "%", "**", "<<", ">>", "&", "|", "^"])
cmps = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"])
calls = st.sampled_from([
    "str({})", "int({})", "len({})", "abs({})", "sorted({})", "list({})", "bool({})", "min({})",
    "max({})", "sum({})", "hex({})", "tuple({})", "dict({})", "isqrt({})", "pow10({})",
    "div_half_up({}, 3)", "muldiv({}, 3, 7)", "sm3({})", "round({}, -1)", "divmod({}, 2)",
])


@st.composite
def expr(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(atoms)
    kind = draw(st.integers(0, 4))
    a, b = draw(expr(depth + 1)), draw(expr(depth + 1))
    if kind == 0:
        return f"({a} {draw(binops)} {b})"
    if kind == 1:
        return f"({a} {draw(cmps)} {b})"
    if kind == 2:
        return draw(calls).format(a)
    if kind == 3:
        return f"[{a}, {b}][{draw(st.integers(-2, 2))}]"
    return f"({a} if {b} else {draw(atoms)})"


@st.composite
def program(draw):
    lines = ["x = 3", "y = -5", "s = 'kwh'", "xs = [3, 1, 2]", "d = {'a': 1}"]
    for _ in range(draw(st.integers(1, 5))):
        choice = draw(st.integers(0, 4))
        e = draw(expr())
        if choice == 0:
            lines.append(f"{draw(st.sampled_from(['x', 'y', 's']))} = {e}")
        elif choice == 1:
            lines.append(f"xs.append({e})")
        elif choice == 2:
            lines.append(f"d[{draw(atoms)}] = {e}")
        elif choice == 3:
            lines.append(f"for i in range({draw(st.integers(0, 50))}):\n        x = {e}")
        else:
            lines.append(f"storage.set('k', {e})")
    lines.append(f"return {draw(expr())}")
    return "@export\ndef f():\n" + "\n".join("    " + line for line in lines) + "\n"


def run(src: str):
    machine._cache.clear()
    h = MemoryHost()
    try:
        h.deploy("fz", src)
    except ContractRejected as exc:
        return ("rejected", exc.rule)
    r = h.call("fz", "f", gas=GAS)
    return (r.ok, r.value, r.gas_used, r.writes, r.error_code, r.error_message)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program())
def test_random_programs(src):
    first = run(src)
    assert first == run(src)
    if first[0] == "rejected":
        return
    ok, value, gas_used, writes, code, message = first
    assert 0 < gas_used <= GAS
    if ok:
        assert code == "" and message == ""
    else:
        assert code.startswith("VM_") and code != "VM_INTERNAL", (code, message, src)
        assert value is None and writes == ()
        assert "0x" not in message
