"""Proposal kinds of `sys.governance`: an open registry, one checker and one effect per kind.

`check` runs when a proposal is made (malformed payloads never become proposals) and returns
the payload's canonical form; `apply` runs when it passes, re-checks against the state of that
moment (safety rails) and writes the change. Both raise CallFailed with a stable code. New kinds
(the side-chain ones) call `register`.

Validator-set changes write the NEXT set into sys.validators["set"] in the deciding block h;
chain.py commits its hash as h's next_validators_hash. Entries are appended (existing indices
stay put) and removals keep the order of the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from chainnode.core import govconfig
from chainnode.core.genesis import DEFAULT_PARAMS
from chainnode.crypto.sm2 import PublicKey, SignatureError
from chainnode.exec import params, readiness
from chainnode.exec.state import TxState
from chainnode.exec.system import PARAMS, VALIDATORS, CallFailed, member

GOVERNANCE = "sys.governance"
UNKNOWN_KIND = "GOV_UNKNOWN_KIND"
BAD_PAYLOAD = "GOV_BAD_PAYLOAD"
CONFLICT = "GOV_CONFLICT"  # names a validator that exists / does not exist
MIN_VALIDATORS = "GOV_MIN_VALIDATORS"  # would leave no validator (force cannot override)
UNSAFE_REMOVAL = "GOV_UNSAFE_REMOVAL"  # would lower the fault tolerance f; needs force

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
HOSTPORT_RE = re.compile(r"[A-Za-z0-9.-]{1,253}:([0-9]{1,5})|\[[0-9A-Fa-f:.]{2,45}\]:([0-9]{1,5})")

Events = list[tuple[str, str, dict]]


@dataclass(frozen=True)
class Kind:
    check: Callable[[TxState, dict], dict]
    apply: Callable[[TxState, dict, int], Events]


KINDS: dict[str, Kind] = {}


def register(name: str, kind: Kind) -> None:
    if name in KINDS:
        raise ValueError(f"proposal kind {name!r} is already registered")
    KINDS[name] = kind


def _need(cond: bool, code: str, message: str) -> None:
    if not cond:
        raise CallFailed(code, message)


def check(state: TxState, kind: str, payload: dict) -> dict:
    _need(kind in KINDS, UNKNOWN_KIND, f"unknown proposal kind {kind!r}")
    return KINDS[kind].check(state, payload)


def apply(state: TxState, kind: str, payload: dict, height: int) -> Events:
    return KINDS[kind].apply(state, KINDS[kind].check(state, payload), height)


def _only(payload: dict, allowed: set[str]) -> None:
    extra = sorted(set(payload) - allowed)
    _need(not extra, BAD_PAYLOAD, f"unexpected payload fields {extra}")


# -- validator set
def validator_set(state: TxState) -> list[list]:
    return list(state.get(VALIDATORS, "set", []))


def fault_tolerance(n: int) -> int:
    return (n - 1) // 3


def _check_add(state: TxState, payload: dict) -> dict:
    _only(payload, {"name", "public_key", "p2p"})
    name, pub_hex, p2p = payload.get("name"), payload.get("public_key"), payload.get("p2p")
    _need(isinstance(name, str) and NAME_RE.fullmatch(name) is not None, BAD_PAYLOAD,
          "name must be 1-64 characters of A-Z a-z 0-9 . _ - starting with a letter or digit")
    try:
        pub = PublicKey.from_hex(pub_hex).raw if isinstance(pub_hex, str) else None
    except (SignatureError, ValueError):
        pub = None
    _need(pub is not None, BAD_PAYLOAD, "public_key must be a hex SM2 public key on the curve")
    m = HOSTPORT_RE.fullmatch(p2p) if isinstance(p2p, str) else None
    port = int(m.group(1) or m.group(2)) if m else 0
    _need(1 <= port <= 65535, BAD_PAYLOAD, "p2p must be HOST:PORT with a port in 1..65535")
    vs = validator_set(state)
    _need(all(v[0] != name for v in vs), CONFLICT, f"a validator named {name!r} exists")
    _need(all(v[1] != pub for v in vs), CONFLICT, "that public key is already a validator")
    return {"name": name, "public_key": pub.hex(), "p2p": p2p}  # type: ignore[union-attr]


def _apply_add(state: TxState, p: dict, height: int) -> Events:
    readiness.require_ready(state, p["name"], p["public_key"], height)
    vs = validator_set(state) + [[p["name"], bytes.fromhex(p["public_key"])]]
    state.set(VALIDATORS, "set", vs)
    state.set(VALIDATORS, ["p2p", p["name"]], p["p2p"])
    state.set(VALIDATORS, ["joined", p["name"]], height + 1)
    return [(VALIDATORS, "ValidatorAdded", {"name": p["name"], "public_key": p["public_key"],
                                            "p2p": p["p2p"], "from_height": height + 1,
                                            "validators": len(vs)})]


def _check_remove(state: TxState, payload: dict) -> dict:
    _only(payload, {"name", "force"})
    name, force = payload.get("name"), payload.get("force", False)
    _need(isinstance(name, str), BAD_PAYLOAD, "name must be a string")
    _need(type(force) is bool, BAD_PAYLOAD, "force must be true or false")
    vs = validator_set(state)
    same = sum(1 for v in vs if v[0] == name)
    _need(same > 0, CONFLICT, f"no validator named {name!r}")
    _need(same == 1, CONFLICT, f"{same} validators are named {name!r} (a genesis from before "
          "names had to be unique): removing by that name is ambiguous")
    n, after = len(vs), len(vs) - 1
    _need(after >= 1, MIN_VALIDATORS, "removing it would leave no validator")
    f = fault_tolerance(n)
    _need(force or after >= 3 * f + 1, UNSAFE_REMOVAL,
          f"removing {name!r} leaves {after} validators: the chain would tolerate "
          f"{fault_tolerance(after)} faulty instead of {f}; add a replacement first, or "
          "set force=true")
    return {"name": name, "force": force}


def _apply_remove(state: TxState, p: dict, height: int) -> Events:
    vs = [v for v in validator_set(state) if v[0] != p["name"]]
    state.set(VALIDATORS, "set", vs)
    state.delete(VALIDATORS, ["p2p", p["name"]])
    state.delete(VALIDATORS, ["joined", p["name"]])
    return [(VALIDATORS, "ValidatorRemoved", {"name": p["name"], "force": p["force"],
                                              "from_height": height + 1,
                                              "validators": len(vs)})]


# -- parameters
def current_params(state: TxState) -> dict:
    stored = state.get(PARAMS, "chain", {})
    return {**DEFAULT_PARAMS, **(stored if isinstance(stored, dict) else {})}


def _check_param(state: TxState, payload: dict) -> dict:
    _only(payload, {"name", "value"})
    try:
        params.check_change(current_params(state), payload.get("name"), payload.get("value"))
    except params.ParamError as exc:
        raise CallFailed(exc.code, exc.message) from exc
    return {"name": payload["name"], "value": payload["value"]}


def _apply_param(state: TxState, p: dict, height: int) -> Events:
    stored = state.get(PARAMS, "chain", {})
    new = dict(sorted({**(stored if isinstance(stored, dict) else {}),
                       p["name"]: p["value"]}.items()))
    state.set(PARAMS, "chain", new)
    return [(PARAMS, "ParamChanged", {"name": p["name"], "value": p["value"],
                                      "from_height": height + 1})]


# -- committee
def _check_committee(state: TxState, payload: dict) -> dict:
    _only(payload, {"governors", "participation_threshold", "win_threshold",
                    "proposal_ttl_blocks"})
    current = state.get(GOVERNANCE, "committee", {})
    try:
        c = govconfig.normalize(payload, current if isinstance(current, dict) else {})
    except govconfig.CommitteeError as exc:
        raise CallFailed(BAD_PAYLOAD, str(exc)) from exc
    strangers = [a for a, _ in c["governors"] if member(state, a) is None]
    _need(not strangers, BAD_PAYLOAD, f"governors {strangers} are not active members")
    return c


def _apply_committee(state: TxState, c: dict, height: int) -> Events:
    state.set(GOVERNANCE, "committee", c)
    return [(GOVERNANCE, "CommitteeChanged", {"governors": len(c["governors"]),
                                              "total_weight": sum(w for _, w in c["governors"]),
                                              "participation_threshold":
                                                  c["participation_threshold"],
                                              "win_threshold": c["win_threshold"],
                                              "proposal_ttl_blocks": c["proposal_ttl_blocks"]})]


register("add-validator", Kind(_check_add, _apply_add))
register("remove-validator", Kind(_check_remove, _apply_remove))
register("set-param", Kind(_check_param, _apply_param))
register("set-committee", Kind(_check_committee, _apply_committee))
