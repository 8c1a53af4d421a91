"""Red team of the host role tables (chainnode/vm/roles.py, issue 12) as a hostile contract
author.

Finding fixed here: role_revoke took any key parts (ints, "" ) and emitted role_revoked
events for entries role_grant could never make, and role_grant accepted the empty account,
which is the caller of every anonymous query: granting a role to "" would let anonymous
queries pass role_require. Both now take a non-empty str account and role (BAD_INPUT).
The rest are regression tests of what already held: each contract writes only its own table,
a contract calling in (also reentrantly) is judged as itself, and the host functions are
priced per byte and per role name (the µs/gas and bytes/gas figures are measured with
scripts/vm_calibrate.py, not asserted here: timing is not deterministic).
"""

from __future__ import annotations

from chainnode import codec
from chainnode.vm import GAS
from chainnode.vm.hostapi import arg_bytes
from chainnode.vm.memhost import MemoryHost

SRC = '''
def init():
    storage.set(("role", ctx.sender, "admin"), True)


@export
def admin(op, account, role):
    if op == "grant":
        role_grant(account, role)
    else:
        role_revoke(account, role)


@export
def guarded():
    role_require(["ops"])
    return ctx.caller


@view
def has(account, role):
    return role_has(account, role)


@export
def grant_via(other, account, role):
    return call(other, "admin", op="grant", account=account, role=role)


@export
def bounce(other, back):
    # calls `other`, which calls back into this contract's guarded()
    return call(other, "relay", target=back)


@export
def relay(target):
    return call(target, "guarded")


@export
def revoke_int(n):
    role_revoke(n, n)


@export
def own_grants(n):
    for i in range(n):
        role_grant("acct" + str(i), "ops")
'''


def host():
    h = MemoryHost()
    for name in ("a", "b"):
        h.deploy(name, SRC, sender="boss")
    return h


def key(account, role):
    return codec.encode(["role", account, role])


def test_grant_and_revoke_take_nonempty_str_entries_only():
    h = host()
    for account, role in (("", "ops"), ("ann", ""), ("", "")):
        for op in ("grant", "revoke"):
            r = h.call("a", "admin", sender="boss", op=op, account=account, role=role)
            assert r.error_code == "BAD_INPUT", (op, account, role, r)
    r = h.call("a", "revoke_int", sender="boss", n=5)
    assert r.error_code == "BAD_INPUT" and not r.events
    # anonymous queries (caller "") can never hold a role
    assert h.call("a", "has", account="", role="admin", readonly=True).value is False


def test_each_contract_writes_only_its_own_table():
    h = host()
    # a's code grants through b's export: b judges the caller a, which is not b's admin
    r = h.call("a", "grant_via", sender="boss", other="b", account="eve", role="admin")
    assert r.error_code == "PERMISSION_DENIED"
    assert ("b", key("eve", "admin")) not in h.state
    r = h.call("a", "own_grants", sender="boss", n=3)
    assert r.ok
    assert all(w[0] == "a" for w in r.writes)
    assert h.call("b", "has", account="acct0", role="ops", readonly=True).value is False
    # made admin of b by b's admin, a may grant in b, and only in b
    assert h.call("b", "admin", sender="boss", op="grant", account="a", role="admin").ok
    r = h.call("a", "grant_via", sender="boss", other="b", account="eve", role="ops")
    assert r.ok and [w[:2] for w in r.writes] == [("b", key("eve", "ops"))]


def test_reentrant_calls_are_judged_as_the_direct_caller():
    h = host()
    assert h.call("a", "admin", sender="boss", op="grant", account="ann", role="ops").ok
    assert h.call("a", "guarded", sender="ann").value == "ann"
    # ann -> a.bounce -> b.relay -> a.guarded: a sees caller b, not ann
    r = h.call("a", "bounce", sender="ann", other="b", back="a")
    assert r.error_code == "PERMISSION_DENIED"
    assert h.call("a", "admin", sender="boss", op="grant", account="b", role="ops").ok
    assert h.call("a", "bounce", sender="ann", other="b", back="a").value == "b"


def test_host_role_functions_are_priced_per_byte_and_per_name():
    h = host()
    # the same failed check with longer names costs more, by at least their arg bytes
    src = '''
@export
def req(n, k):
    role_require([str(i) + "r" * n for i in range(k)])
'''
    h.deploy("c", src, sender="boss")
    g = {(n, k): h.call("c", "req", sender="ann", n=n, k=k).gas_used
         for n in (1, 200) for k in (1, 16)}
    assert h.call("c", "req", sender="ann", n=1, k=1).error_code == "PERMISSION_DENIED"
    per_name = GAS["storage_read"]
    assert g[(1, 16)] - g[(1, 1)] >= 15 * per_name
    assert g[(200, 16)] - g[(1, 16)] >= 2 * 16 * (arg_bytes("r" * 201) - arg_bytes("r"))
