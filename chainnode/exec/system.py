"""Native system contracts (trusted Python, like FISCO BCOS precompiles).

`sys.members` keeps accounts and roles: only registered accounts may send transactions and only
admins change membership. `sys.validators` holds the active validator set; `sys.contracts` the
deployed contracts' code and lifecycle (chainnode.exec.contracts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

from chainnode import codec
from chainnode.core.genesis import ROLES, Genesis
from chainnode.crypto.address import is_address
from chainnode.exec.state import TxState

MEMBERS = "sys.members"
VALIDATORS = "sys.validators"
PARAMS = "sys.params"

SYSTEM_GAS = 20_000  # flat gas per system call: bounds block work without metering Python


class CallFailed(Exception):
    """A system call refused: becomes a failed receipt with this code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SysResult:
    value: Any = None
    events: list[tuple[str, str, dict]] = field(default_factory=list)


def member(state: TxState, address: str) -> dict | None:
    rec = state.get(MEMBERS, address)
    if isinstance(rec, dict) and rec.get("active"):
        return rec
    return None


def has_role(state: TxState, address: str, role: str) -> bool:
    rec = member(state, address)
    return rec is not None and role in rec.get("roles", [])


def genesis_writes(genesis: Genesis, state: TxState) -> None:
    for m in genesis.members:
        state.set(MEMBERS, m.address, {"roles": sorted(set(m.roles)), "name": m.name,
                                       "active": True, "since": 0})
    state.set(VALIDATORS, "set", [[v.name, v.public_key] for v in genesis.validators])
    state.set(PARAMS, "chain", dict(sorted(genesis.params.items())))


def _need(cond: bool, code: str, message: str) -> None:
    if not cond:
        raise CallFailed(code, message)


def _roles_arg(args: dict) -> list[str]:
    roles = args.get("roles")
    _need(isinstance(roles, list) and all(map(isinstance, roles, repeat(str))), "BAD_ARGS",
          "roles must be a list of strings")
    bad = [r for r in roles if r not in ROLES]
    if bad:  # the message only when refused: formatting it costs more than the checks
        raise CallFailed("BAD_ROLE", f"unknown roles {bad}; known: {', '.join(ROLES)}")
    return sorted(set(roles))


def _address_arg(args: dict) -> str:
    addr = args.get("address")
    _need(is_address(addr), "BAD_ARGS", "address must be 40 lowercase hex characters")
    return addr


def _is_governor(state: TxState, address: str) -> bool:
    """In sys.governance's committee (read here: governance imports this module). A revoked
    governor could not vote while its weight still counted, so revoking is the committee's."""
    c = state.get("sys.governance", "committee")
    return isinstance(c, dict) and any(a == address for a, _ in c.get("governors", []))


def members_call(state: TxState, sender: str, height: int, method: str, args: dict,
                 sender_rec: dict | None = None) -> SysResult:
    """`sender_rec`: the sender's active member record as this very state holds it, when the
    caller has just read it (the executor's membership check): not decoded twice. It may be
    shared between transactions (chainnode.exec.senders): only read, never mutated."""
    if method == "get":
        return SysResult(state.get(MEMBERS, _address_arg(args)))
    # messages are formatted only for a refusal (an f-string per check costs per tx)
    if method not in ("register", "revoke", "set_roles"):
        raise CallFailed("NO_METHOD", f"sys.members has no method {method!r}")
    rec = sender_rec if sender_rec is not None else member(state, sender)
    if rec is None or "admin" not in rec.get("roles", []):
        raise CallFailed("PERMISSION_DENIED", f"only admins may call sys.members.{method}")
    addr = _address_arg(args)
    akey = codec.encode(addr)  # read, then written: encoded once
    existing = state.get_at(MEMBERS, akey)
    if method == "register":
        roles = _roles_arg(args)
        name = args.get("name", "")
        _need(isinstance(name, str) and len(name) <= 64, "BAD_ARGS", "name must be a short string")
        if isinstance(existing, dict) and existing.get("active"):
            raise CallFailed("ALREADY_MEMBER", f"{addr} is already a member")
        # keys in canonical (sorted) order: the encoder then takes the dict as it is
        state.set_at(MEMBERS, akey, {"active": True, "name": name, "roles": roles,
                                     "since": height})
        return SysResult(True, [(MEMBERS, "MemberRegistered", {"address": addr, "roles": roles})])
    _need(isinstance(existing, dict) and existing.get("active"), "NOT_MEMBER",
          f"{addr} is not an active member")
    if method == "revoke":
        _need(addr != sender, "BAD_ARGS", "an admin cannot revoke itself")
        _need(not _is_governor(state, addr), "MEMBER_IS_GOVERNOR",
              f"{addr} is a governor: the committee removes it first (set-committee); one "
              "admin alone must not take votes away from the committee")
        state.set_at(MEMBERS, akey, {**existing, "active": False, "revoked_at": height})
        return SysResult(True, [(MEMBERS, "MemberRevoked", {"address": addr})])
    roles = _roles_arg(args)
    state.set_at(MEMBERS, akey, {**existing, "roles": roles})
    return SysResult(True, [(MEMBERS, "RolesChanged", {"address": addr, "roles": roles})])
