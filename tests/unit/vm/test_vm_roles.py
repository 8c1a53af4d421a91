"""The host's per-contract role table (role_has, role_require, role_grant, role_revoke):
semantics the business contracts rely on, and a hostile author's pass over its pricing."""

from chainnode import codec
from chainnode.vm.hostapi import arg_bytes
from chainnode.vm.memhost import MemoryHost

SRC = '''
def init():
    storage.set(("role", ctx.sender, "admin"), True)


@export
def grant_role(account, role):
    role_grant(account, role)


@export
def revoke_role(account, role):
    role_revoke(account, role)


@export
def guarded(roles):
    role_require(roles)
    return "ok"


@view
def has(account, role):
    return role_has(account, role)


@export
def raw_set(key, value):
    storage.set(key, value)


@export
def poke(other, roles):
    return call(other, "guarded", roles=roles)


@export
def huge_has(n):
    return role_has("x", "r" * n)


@export
def huge_require(n, k):
    role_require(["r" * n] * k)


@export
def probe(account, role, n):
    for i in range(n):
        role_has(account, role)
'''


def host():
    h = MemoryHost()
    h.deploy("a", SRC, sender="boss")
    h.deploy("b", SRC, sender="boss")
    return h


def test_grant_check_revoke_and_events():
    h = host()
    assert h.call("a", "guarded", sender="ann", roles=["ops"]).error_code == "PERMISSION_DENIED"
    assert h.call("a", "grant_role", sender="ann", account="ann",
                  role="ops").error_code == "PERMISSION_DENIED"
    r = h.call("a", "grant_role", sender="boss", account="ann", role="ops")
    assert r.ok and [(e.name, e.fields) for e in r.events] == [
        ("role_granted", {"account": "ann", "role": "ops"})]
    assert h.call("a", "guarded", sender="ann", roles=["x", "ops"]).value == "ok"
    assert h.call("a", "guarded", sender="boss", roles=[]).value == "ok"  # admin passes all
    assert h.call("a", "has", account="ann", role="ops", readonly=True).value is True
    # the table is per contract
    assert h.call("b", "has", account="ann", role="ops", readonly=True).value is False
    r = h.call("a", "revoke_role", sender="boss", account="ann", role="ops")
    assert r.ok and r.events[0].name == "role_revoked"
    assert h.call("a", "guarded", sender="ann", roles=["ops"]).error_message == \
        "caller lacks role ops"
    assert h.call("a", "grant_role", sender="boss", account="ann",
                  role="").error_code == "BAD_INPUT"
    assert h.call("a", "grant_role", sender="boss", account=5,
                  role="x").error_code == "BAD_INPUT"


def test_same_storage_layout_as_the_contracts_own_tables():
    h = host()
    assert h.call("a", "raw_set", sender="boss", key=["role", "carl", "ops"], value=True).ok
    assert h.call("a", "has", account="carl", role="ops", readonly=True).value is True
    key = codec.encode(["role", "carl", "ops"])
    assert h.state[("a", key)] == codec.encode(True)
    # anything but True is not a grant
    assert h.call("a", "raw_set", sender="boss", key=["role", "dan", "ops"], value=1).ok
    assert h.call("a", "has", account="dan", role="ops", readonly=True).value is False


def test_a_calling_contract_is_judged_as_itself():
    h = host()
    assert h.call("b", "grant_role", sender="boss", account="ann", role="ops").ok
    # ann holds ops in b, but the caller b sees is contract a
    r = h.call("a", "poke", sender="ann", other="b", roles=["ops"])
    assert r.error_code == "PERMISSION_DENIED"
    assert h.call("b", "grant_role", sender="boss", account="a", role="ops").ok
    assert h.call("a", "poke", sender="ann", other="b", roles=["ops"]).value == "ok"


def test_hostile_arguments_are_priced_and_bounded():
    h = host()
    big = "r" * 1_000_000
    # a 1 MB role name pays its bytes before the key is refused
    r = h.call("a", "huge_has", sender="ann", n=len(big), gas=10_000_000)
    assert r.error_code == "VM_SIZE_LIMIT" and r.gas_used > arg_bytes(big)
    # 16 huge names: paid per byte, the message is bounded
    r = h.call("a", "huge_require", sender="ann", n=len(big), k=16, gas=10_000_000)
    assert r.error_code == "VM_SIZE_LIMIT" and r.gas_used > 16 * arg_bytes(big)
    r = h.call("a", "huge_require", sender="ann", n=200, k=16)
    assert r.error_code == "PERMISSION_DENIED" and len(r.error_message) == 256
    assert h.call("a", "huge_require", sender="ann", n=len(big), k=16,
                  gas=900_000).error_code == "VM_OUT_OF_GAS"
    # at most 16 names, a list of str only
    assert h.call("a", "guarded", sender="ann", roles=["x"] * 17).error_code == "VM_SIZE_LIMIT"
    assert h.call("a", "guarded", sender="ann", roles="ops").error_code == "VM_TYPE_ERROR"
    assert h.call("a", "guarded", sender="ann", roles=[1]).error_code == "VM_TYPE_ERROR"
    assert h.call("a", "has", account=None, role="x", readonly=True).error_code == \
        "VM_TYPE_ERROR"
    # lone surrogates never reach a key or a message
    r = h.call("a", "has", account="\ud800", role="x", readonly=True)
    assert r.error_code in ("VM_BAD_ARGS", "VM_VALUE_ERROR")


def test_role_has_does_not_decode_a_big_value_under_a_role_key():
    h = host()
    assert h.call("a", "raw_set", sender="boss", key=["role", "x", "y"],
                  value=[[]] * 6000).ok
    small = h.call("a", "probe", sender="boss", account="x", role="z", n=50).gas_used
    big = h.call("a", "probe", sender="boss", account="x", role="y", n=50).gas_used
    # the read pays per stored byte (6,000+ bytes), the decode (5 per byte) is never run
    assert 50 * 6000 < big - small < 50 * 6000 * 2


def test_gas_grows_with_checked_roles_only_until_one_matches():
    h = host()
    roles = [f"r{i}" for i in range(16)]
    assert h.call("a", "grant_role", sender="boss", account="ann", role="r0").ok
    first = h.call("a", "guarded", sender="ann", roles=roles).gas_used
    assert h.call("a", "revoke_role", sender="boss", account="ann", role="r0").ok
    assert h.call("a", "grant_role", sender="boss", account="ann", role="r15").ok
    last = h.call("a", "guarded", sender="ann", roles=roles).gas_used
    assert last - first >= 15 * 200  # fifteen more storage reads
