"""Host API semantics: storage, Map, events, require, readonly, cross-contract calls, init."""

from __future__ import annotations

import pytest

from chainnode import codec
from chainnode.vm import CallContext, ExecResult, compile_contract, execute
from chainnode.vm.memhost import MemoryHost

TOKEN = '''
bal = Map("bal")


def init(owner, supply=1000):
    bal[owner] = supply
    storage.set("owner", owner)
    emit("Minted", to=owner, amount=supply)


@export
def transfer(to, amount):
    require(isinstance(amount, int) and amount > 0, "BAD_AMOUNT", "amount must be positive")
    mine = bal[ctx.caller] or 0
    require(mine >= amount, "INSUFFICIENT", "balance too low")
    bal[ctx.caller] = mine - amount
    bal[to] = (bal[to] or 0) + amount
    emit("Transfer", frm=ctx.caller, to=to, amount=amount)
    return mine - amount


@view
def balance(who):
    return bal.get(who, 0)


@view
def whoami():
    return {"sender": ctx.sender, "caller": ctx.caller, "contract": ctx.contract,
            "height": ctx.height, "time_ms": ctx.time_ms, "tx_hash": ctx.tx_hash,
            "chain_id": ctx.chain_id}


@view
def sneaky_write():
    storage.set("x", 1)


@export
def write_then_fail():
    storage.set("x", 1)
    emit("Never")
    require(False, "NOPE", "rolled back")
'''


@pytest.fixture()
def host():
    h = MemoryHost(chain_id="test-chain")
    r = h.deploy("token", TOKEN, sender="alice", owner="alice", supply=100)
    assert r is not None and r.ok, r
    return h


def test_init_runs_with_kwargs_and_writes(host):
    assert host.call("token", "balance", who="alice", readonly=True).value == 100
    assert host.events[0].name == "Minted"
    assert host.events[0].fields == {"to": "alice", "amount": 100}
    assert host.events[0].contract == "token"


def test_transfer_updates_state_and_emits(host):
    r = host.call("token", "transfer", sender="alice", to="bob", amount=30)
    assert r.ok and r.value == 70 and r.error_code == "" and r.error_message == ""
    assert [e.name for e in r.events] == ["Transfer"]
    assert r.events[0].fields == {"frm": "alice", "to": "bob", "amount": 30}
    assert host.call("token", "balance", who="bob").value == 30
    assert host.call("token", "balance", who="alice").value == 70


def test_require_failure_uses_contract_code_and_drops_everything(host):
    r = host.call("token", "transfer", sender="bob", to="carol", amount=5)
    assert not r.ok
    assert (r.error_code, r.error_message) == ("INSUFFICIENT", "balance too low")
    assert r.writes == () and r.events == () and r.value is None
    assert 0 < r.gas_used < 10_000_000


def test_writes_and_events_dropped_on_failure(host):
    before = dict(host.state)
    r = host.call("token", "write_then_fail")
    assert (r.ok, r.error_code, r.writes, r.events) == (False, "NOPE", (), ())
    assert host.state == before


def test_context_fields(host):
    v = host.call("token", "whoami", sender="carol").value
    assert v == {"sender": "carol", "caller": "carol", "contract": "token", "height": 1,
                 "time_ms": host.time_ms, "tx_hash": "00" * 32, "chain_id": "test-chain"}


def test_view_cannot_write_even_in_a_transaction(host):
    r = host.call("token", "sneaky_write")
    assert (r.ok, r.error_code) == (False, "VM_READONLY")


def test_readonly_export_is_refused(host):
    r = host.call("token", "transfer", readonly=True, to="bob", amount=1)
    assert (r.ok, r.error_code) == (False, "VM_READONLY")


def test_unknown_and_private_methods(host):
    assert host.call("token", "nope").error_code == "VM_NO_METHOD"
    assert host.call("token", "init", owner="x").error_code == "VM_NO_METHOD"


def test_init_only_with_is_init_and_only_init():
    c = compile_contract("t", TOKEN)
    h = MemoryHost()
    ctx = h.context("a")
    assert execute(c, "transfer", {"to": "b", "amount": 1}, ctx, h, 10**6,
                   is_init=True).error_code == "VM_NO_METHOD"
    assert execute(c, "init", {"owner": "a"}, ctx, h, 10**6, is_init=True).ok
    assert execute(c, "init", {"owner": "a"}, ctx, h, 10**6, is_init=True,
                   readonly=True).error_code == "VM_READONLY"


def test_bad_args(host):
    assert host.call("token", "transfer", to="bob").error_code == "VM_BAD_ARGS"
    assert host.call("token", "transfer", to="b", amount=1, extra=2).error_code == "VM_BAD_ARGS"
    c = host.contracts["token"]
    r = execute(c, "balance", {"who": 1.5}, host.context("a"), host, 10**6)
    assert r.error_code == "VM_BAD_ARGS"
    r = execute(c, "balance", {"who": object()}, host.context("a"), host, 10**6)
    assert r.error_code == "VM_BAD_ARGS"


def test_kwargs_are_copied_not_shared():
    src = "@export\ndef f(xs):\n    xs.append(99)\n    return xs\n"
    h = MemoryHost()
    h.deploy("c", src)
    arg = [1, 2]
    kwargs = {"xs": arg}
    r = execute(h.contracts["c"], "f", kwargs, h.context("a"), h, 10**6)
    assert r.ok and r.value == [1, 2, 99]
    assert arg == [1, 2] and kwargs == {"xs": [1, 2]}


def test_bad_return_value():
    src = "@view\ndef f():\n    return f\n@view\ndef g():\n    return {1: 2}\n"
    h = MemoryHost()
    h.deploy("c", src)
    assert h.call("c", "f").error_code == "VM_BAD_RETURN"
    assert h.call("c", "g").error_code == "VM_BAD_RETURN"


def test_return_value_is_canonical_copy():
    src = "@view\ndef f():\n    return (1, [2, (3,)], {'a': b'x'})\n"
    h = MemoryHost()
    h.deploy("c", src)
    assert h.call("c", "f").value == [1, [2, [3]], {"a": b"x"}]


# ---------------------------------------------------------------- storage keys and values

STORE = '''
m = Map("m")


@export
def put(k, v):
    storage.set(k, v)


@export
def put_tuple(a, b, v):
    storage.set((a, b), v)


@export
def put_map(a, b, v):
    m[a, b] = v
    m[a] = v


@export
def own_writes():
    storage.set("a", [1])
    x = storage.get("a")
    x.append(2)
    first = storage.get("a")
    storage.delete("a")
    gone = storage.get("a", "default")
    has = storage.has("a")
    storage.set("b", None)
    return [first, gone, has, storage.has("b"), storage.get("b", 5)]


@export
def last_wins():
    storage.set("k", 1)
    storage.set("k", 2)
    storage.set("a", 0)
    storage.delete("z")


@view
def get_map(a, b):
    return [m[a, b], m.get(a), m.has((a, b)), (a, b) in m, m.get("zz", 7)]


@export
def bad_key(k):
    storage.set(k, 1)


@export
def bad_value(v):
    storage.set("k", v)


@export
def big_key():
    storage.set(2 ** 600, 1)


@export
def del_map(a):
    m.delete(a)
'''


@pytest.fixture()
def store():
    h = MemoryHost()
    h.deploy("s", STORE)
    return h


def test_key_encoding_rule(store):
    r = store.call("s", "put", k="name", v=1)
    assert r.writes == (("s", codec.encode("name"), codec.encode(1)),)
    r = store.call("s", "put", k=7, v="x")
    assert r.writes == (("s", codec.encode(7), codec.encode("x")),)
    r = store.call("s", "put_tuple", a="bal", b=3, v={"k": [1, 2]})
    assert r.writes == (("s", codec.encode(["bal", 3]), codec.encode({"k": [1, 2]})),)
    r = store.call("s", "put_map", a="x", b=2, v=5)
    assert [w[1] for w in r.writes] == sorted([codec.encode(["m", "x", 2]),
                                               codec.encode(["m", "x"])])


def test_reads_see_own_writes_and_copies(store):
    r = store.call("s", "own_writes")
    assert r.ok, r
    assert r.value == [[1], "default", False, True, None]
    assert r.writes == (("s", codec.encode("a"), None), ("s", codec.encode("b"), b"\xc0"))


def test_writes_sorted_last_write_wins(store):
    r = store.call("s", "last_wins")
    keys = [w[1] for w in r.writes]
    assert keys == sorted(keys)
    assert dict((w[1], w[2]) for w in r.writes)[codec.encode("k")] == codec.encode(2)
    assert (("s", codec.encode("z"), None)) in r.writes


def test_map_reads(store):
    store.call("s", "put_map", a="x", b=2, v=5)
    assert store.call("s", "get_map", a="x", b=2).value == [5, 5, True, True, 7]
    store.call("s", "del_map", a="x")
    assert store.call("s", "get_map", a="x", b=2).value == [5, None, True, True, 7]


@pytest.mark.parametrize("key,code", [
    (1.5, "VM_BAD_ARGS"), ([], "VM_SIZE_LIMIT"), ([1, [2]], "VM_TYPE_ERROR"),
    ([True], "VM_TYPE_ERROR"), ({"a": 1}, "VM_TYPE_ERROR"), (None, "VM_TYPE_ERROR"),
    ("k" * 300, "VM_SIZE_LIMIT"), (list(range(9)), "VM_SIZE_LIMIT"),
])
def test_bad_keys(store, key, code):
    assert store.call("s", "bad_key", k=key).error_code == code


def test_big_int_key(store):
    assert store.call("s", "big_key").error_code == "VM_SIZE_LIMIT"


def test_list_key_equals_tuple_key(store):
    r1 = store.call("s", "bad_key", k=["a", 1])
    r2 = store.call("s", "put_tuple", a="a", b=1, v=1)
    assert r1.ok and r1.writes == r2.writes


def test_value_limits(store):
    deep: list = []
    for _ in range(20):
        deep = [deep]
    assert store.call("s", "bad_value", v=deep).error_code == "VM_SIZE_LIMIT"
    assert store.call("s", "bad_value", v="x" * 70_000).error_code == "VM_SIZE_LIMIT"
    assert store.call("s", "bad_value", v="x" * 60_000).ok


# ---------------------------------------------------------------- cross-contract calls

CALLER = '''
@export
def pay(to, amount):
    left = call("token", "transfer", to=to, amount=amount)
    return {"left": left, "mine": call("token", "balance", who=ctx.contract)}


@view
def peek(who):
    return call("token", "balance", who=who)


@view
def pay_from_view(to):
    return call("token", "transfer", to=to, amount=1)


@export
def whoami():
    return call("token", "whoami")


@export
def missing():
    return call("nobody", "f")


@export
def private():
    return call("token", "init", owner="me")


@export
def recurse(n):
    return call("caller", "recurse", n=n + 1)


@export
def mutate_arg():
    xs = [1]
    call("echo", "grow", xs=xs)
    return xs


@export
def write_then_call_fail():
    storage.set("mark", 1)
    return call("token", "transfer", to="x", amount=10 ** 9)
'''

ECHO = '''
@export
def grow(xs):
    xs.append(2)
    return xs
'''


@pytest.fixture()
def chain(host):
    host.deploy("caller", CALLER)
    host.deploy("echo", ECHO)
    r = host.call("token", "transfer", sender="alice", to="caller", amount=50)
    assert r.ok
    return host


def test_cross_call_caller_is_contract(chain):
    r = chain.call("caller", "pay", sender="alice", to="dave", amount=20)
    assert r.ok, r
    assert r.value == {"left": 30, "mine": 30}
    assert chain.call("token", "balance", who="dave").value == 20
    assert chain.call("token", "balance", who="alice").value == 50
    assert [(e.contract, e.name) for e in r.events] == [("token", "Transfer")]
    assert r.events[0].fields["frm"] == "caller"


def test_cross_call_context(chain):
    v = chain.call("caller", "whoami", sender="erin").value
    assert (v["sender"], v["caller"], v["contract"]) == ("erin", "caller", "token")


def test_cross_call_failures(chain):
    assert chain.call("caller", "missing").error_code == "VM_NO_CONTRACT"
    assert chain.call("caller", "private").error_code == "VM_NO_METHOD"
    assert chain.call("caller", "pay_from_view", to="x").error_code == "VM_READONLY"
    assert chain.call("caller", "peek", who="caller").value == 50
    r = chain.call("caller", "write_then_call_fail")
    assert (r.ok, r.error_code, r.writes) == (False, "INSUFFICIENT", ())


def test_cross_call_depth(chain):
    r = chain.call("caller", "recurse", n=0)
    assert r.error_code == "VM_CALL_DEPTH"


def test_cross_call_arguments_are_copied(chain):
    assert chain.call("caller", "mutate_arg").value == [1]


def test_execute_never_raises_for_host_ok_inputs():
    h = MemoryHost()
    c = compile_contract("c", "@view\ndef f():\n    return 1\n")
    ctx = CallContext("a", 1, 1, "", "x")
    r = execute(c, "f", "not a dict", ctx, h, 10**6)  # type: ignore[arg-type]
    assert isinstance(r, ExecResult) and r.error_code == "VM_BAD_ARGS"
    r = execute(c, 42, {}, ctx, h, 10**6)  # type: ignore[arg-type]
    assert r.error_code == "VM_NO_METHOD"


def test_host_exceptions_propagate():
    class Broken(MemoryHost):
        def storage_get(self, contract, key):
            raise OSError("disk gone")

    h = Broken()
    h.deploy("c", "@view\ndef f():\n    return storage.get('k')\n")
    with pytest.raises(OSError, match="disk gone"):
        h.call("c", "f")


def test_has_role_goes_to_host():
    h = MemoryHost()
    h.roles.add(("alice", "operator"))
    h.deploy("c", "@view\ndef f(who):\n    return has_role(who, 'operator')\n")
    assert h.call("c", "f", who="alice").value is True
    assert h.call("c", "f", who="bob").value is False


def test_emit_rules():
    src = '''
@export
def ok():
    emit("Done", n=1, items=[1, (2, 3)], blob=b"x")

@export
def bad_name():
    emit("bad name")

@export
def bad_field():
    emit("E", f=ok)

@view
def from_view():
    emit("E")
'''
    h = MemoryHost()
    h.deploy("c", src)
    r = h.call("c", "ok")
    assert r.events[0].fields == {"n": 1, "items": [1, [2, 3]], "blob": b"x"}
    assert h.call("c", "bad_name").error_code == "VM_VALUE_ERROR"
    assert h.call("c", "bad_field").error_code == "VM_TYPE_ERROR"
    assert h.call("c", "from_view").error_code == "VM_READONLY"


def test_require_code_rules():
    src = '''
@view
def f(code):
    require(True, code)
    return 1

@view
def g():
    require(False, "MY_CODE")
'''
    h = MemoryHost()
    h.deploy("c", src)
    assert h.call("c", "f", code="OK_CODE").value == 1
    for bad in ("lower", "VM_OUT_OF_GAS", "A" * 49, "", "1ABC"):
        assert h.call("c", "f", code=bad).error_code == "VM_BAD_CODE", bad
    r = h.call("c", "g")
    assert (r.error_code, r.error_message) == ("MY_CODE", "")


def test_no_state_survives_between_transactions():
    src = '''
SEEN = []


@export
def f(x):
    SEEN.append(x)
    return SEEN
'''
    h = MemoryHost()
    h.deploy("c", src)
    assert h.call("c", "f", x=1).value == [1]
    assert h.call("c", "f", x=2).value == [2]
