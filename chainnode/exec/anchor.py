"""`sys.anchor`: the light clients of other chains, their misbehaviour, and packets.

A thin native contract: it loads and stores records (chainnode.anchor.ledger keys) and calls
the pure verification in chainnode.anchor. Clients are created and recovered only through
governance (proposal kinds `create-client` and `recover-client`, registered below); relayers
(role `relayer`, or an admin) submit headers, evidence, packets and acknowledgements.

Gas: the flat system-call gas, plus per 64 bytes of arguments, plus SIG_GAS for every
signature in a certificate (charged after the cheap checks, before any verification), plus
the proofs' gas, plus whatever a delivered packet or a callback uses in the VM.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from typing import Any

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.anchor import lightclient as lc
from chainnode.anchor import misbehaviour, packets, proofs
from chainnode.anchor.errors import AnchorError
from chainnode.anchor.ledger import (
    ANCHOR,
    client_key,
    cons_key,
    load_client,
    load_cons,
    proven_height,
)
from chainnode.anchor.packets import Packet
from chainnode.core.block import Receipt
from chainnode.core.genesis import DEFAULT_PARAMS
from chainnode.core.tx import Transaction
from chainnode.exec import gov_kinds
from chainnode.exec import params as chain_params
from chainnode.exec.contracts import ContractHost
from chainnode.exec.state import BlockState, TxState
from chainnode.exec.system import CallFailed, SysResult, has_role
from chainnode.vm.gas import GAS

ARG_CHUNK_GAS = 16  # per 64 bytes of encoded arguments: decoding and hashing them
MAX_TRUSTED_SETS = 16  # validator-set hashes kept for checking misbehaviour evidence
# Gas budget of one packet delivery or callback: the live chain parameter `delivery_gas`
# (governance keeps it <= tx_gas_limit - RECV_OVERHEAD_GAS). A call that runs out of gas
# WITHIN this budget fails deterministically (an error acknowledgement, or a failed-callback
# event): otherwise a method that never finishes (a hostile contract author's endless loop)
# would fail every relayed transaction and block the ordered channel for good. A transaction
# that cannot give the call its whole budget fails instead, so a short gas limit never forges
# an error ack.
DELIVERY_GAS = DEFAULT_PARAMS["delivery_gas"]  # the genesis default
CALLER = ANCHOR  # ctx.sender and ctx.caller of a delivery or callback (never an address)
MUTATING = ("update", "misbehaviour", "recv", "acknowledge", "timeout")
VIEWS = ("client", "clients", "consensus", "next_send", "next_recv", "packet", "ack")

Events = list[tuple[str, str, dict]]


class Meter:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, gas: int) -> None:
        self.used += gas
        if self.used > self.limit:
            raise CallFailed(E.OUT_OF_GAS, f"out of gas (limit {self.limit})")


def _failed_call(exc: AnchorError) -> CallFailed:
    return CallFailed(exc.code, exc.message)


def _bad_payload(exc: AnchorError) -> CallFailed:
    """Proposal kinds refuse with governance codes; the anchor code leads the message."""
    return CallFailed(gov_kinds.BAD_PAYLOAD, f"{exc.code}: {exc.message}")


def _getter(ts: TxState):
    return lambda key: ts.get(ANCHOR, key)


# -- records -------------------------------------------------------------------------------------


def _save_client(ts: TxState, client: lc.ClientState) -> None:
    ts.set(ANCHOR, client_key(client.chain_id), client.to_wire())


def _anchor_height(ts: TxState, client: lc.ClientState, cons: lc.ConsensusState,
                   charge: lc.Charge = lc._no_charge) -> None:
    """Keep `cons` and prune beyond the window (evidence is checked against what is kept).
    The list of kept heights is read and rewritten whole (up to MAX_WINDOW heights, ~20 KB):
    `charge` gets the VM's storage gas for those bytes, so a wide window is paid for."""
    chain = client.chain_id
    hkey = codec.encode(["heights", chain])
    raw = ts.get_raw(ANCHOR, hkey)
    charge(len(raw or b"") * GAS["storage_byte_read"])
    heights = (list(codec.decode(raw)) if raw is not None else []) + [cons.height]
    while len(heights) > client.params.window:
        ts.delete(ANCHOR, cons_key(chain, heights.pop(0)))
    cons_w, heights_w = codec.encode(cons.to_wire()), codec.encode(heights)
    charge((len(cons_w) + len(heights_w)) * GAS["storage_byte_write"])
    ts.writes[(ANCHOR, codec.encode(cons_key(chain, cons.height)))] = cons_w
    ts.writes[(ANCHOR, hkey)] = heights_w


def _reset_heights(ts: TxState, client: lc.ClientState) -> None:
    chain = client.chain_id
    for h in ts.get(ANCHOR, ["heights", chain], []):
        ts.delete(ANCHOR, cons_key(chain, h))
    ts.set(ANCHOR, ["heights", chain], [])
    _anchor_height(ts, client, client.latest)


# -- governance kinds ----------------------------------------------------------------------------


def _hex(payload: dict, name: str) -> bytes:
    v = payload.get(name)
    try:
        assert isinstance(v, str)
        return bytes.fromhex(v)
    except (AssertionError, ValueError):
        raise CallFailed(gov_kinds.BAD_PAYLOAD, f"{name} must be a hex string") from None


def _header_wire(payload: dict) -> Any:
    try:
        return codec.decode(_hex(payload, "header_hex"))
    except codec.CodecError as exc:
        raise CallFailed(gov_kinds.BAD_PAYLOAD, f"header_hex is not an encoded header: {exc}"
                         ) from None


def _validators_wire(payload: dict) -> list:
    vs = payload.get("validators")
    if not isinstance(vs, list):
        raise CallFailed(gov_kinds.BAD_PAYLOAD, "validators must be [[name, public key hex]...]")
    out = []
    for v in vs:
        if not (isinstance(v, list) and len(v) == 2 and isinstance(v[1], str)):
            raise CallFailed(gov_kinds.BAD_PAYLOAD, "validators must be [[name, public key hex]]")
        try:
            out.append([v[0], bytes.fromhex(v[1])])
        except ValueError:
            raise CallFailed(gov_kinds.BAD_PAYLOAD, "validator key must be hex") from None
    return out


def _canonical(payload: dict, client: lc.ClientState, with_genesis: bool) -> dict:
    out = {"chain_id": client.chain_id,
           "header_hex": codec.encode(_header_wire(payload)).hex(),
           "validators": [[n, k.hex()] for n, k in client.validators],
           "params": client.params.to_wire()}
    if with_genesis:
        out["genesis_hash"] = client.genesis_hash.hex()
    return out


def _check_create(ts: TxState, payload: dict) -> dict:
    gov_kinds._only(payload, {"chain_id", "genesis_hash", "header_hex", "validators", "params"})
    try:
        client = lc.create(payload.get("chain_id"), _hex(payload, "genesis_hash"),
                           _header_wire(payload), _validators_wire(payload),
                           lc.ClientParams.from_wire(payload.get("params")))
    except AnchorError as exc:
        raise _bad_payload(exc) from None
    if ts.get(ANCHOR, client_key(client.chain_id)) is not None:
        raise CallFailed(gov_kinds.CONFLICT, f"{E.CLIENT_EXISTS}: a client of "
                         f"{client.chain_id} exists; use recover-client to replace its "
                         "trusted header")
    return _canonical(payload, client, True)


def _apply_create(ts: TxState, p: dict, height: int) -> Events:
    client = lc.create(p["chain_id"], bytes.fromhex(p["genesis_hash"]),
                       codec.decode(bytes.fromhex(p["header_hex"])), _validators_wire(p),
                       lc.ClientParams.from_wire(p["params"]))
    _save_client(ts, client)
    _reset_heights(ts, client)
    ts.set(ANCHOR, ["clients"], sorted({*ts.get(ANCHOR, ["clients"], []), client.chain_id}))
    return [(ANCHOR, "ClientCreated", {"chain_id": client.chain_id,
                                       "height": client.latest.height,
                                       "header_hash": client.latest.header_hash,
                                       "validators": len(client.validators)})]


def _recover_target(ts: TxState, payload: dict) -> tuple[lc.ClientState, lc.ClientState]:
    gov_kinds._only(payload, {"chain_id", "header_hex", "validators", "params"})
    try:
        old = load_client(_getter(ts), payload.get("chain_id"))
        params = (lc.ClientParams.from_wire(payload["params"]) if "params" in payload
                  else old.params)
        new = lc.create(old.chain_id, old.genesis_hash, _header_wire(payload),
                        _validators_wire(payload), params)
    except AnchorError as exc:
        raise _bad_payload(exc) from None
    return old, new


def _check_recover(ts: TxState, payload: dict) -> dict:
    old, new = _recover_target(ts, payload)
    if new.latest.height <= old.latest.height or new.latest.time_ms <= old.latest.time_ms:
        raise CallFailed(gov_kinds.BAD_PAYLOAD, f"{E.STALE_HEIGHT}: the substitute header must "
                         "be newer (height and time) than the client's latest, height "
                         f"{old.latest.height}")
    # The proposal's effect has no host time: "expired" is judged at the substitute header's
    # time (the other chain's BFT time, which is at most the drift ahead of this chain's).
    if lc.status(old, new.latest.time_ms) == lc.ACTIVE:
        raise CallFailed(gov_kinds.CONFLICT, f"{E.NOT_FROZEN_OR_EXPIRED}: the client of "
                         f"{old.chain_id} is active; only a frozen or expired client is "
                         "recovered")
    return _canonical(payload, new, False)


def _apply_recover(ts: TxState, p: dict, height: int) -> Events:
    old, new = _recover_target(ts, p)
    _save_client(ts, new)
    _reset_heights(ts, new)
    return [(ANCHOR, "ClientRecovered", {"chain_id": new.chain_id,
                                         "was_frozen_at": old.frozen_height,
                                         "height": new.latest.height,
                                         "header_hash": new.latest.header_hash})]


gov_kinds.register("create-client", gov_kinds.Kind(_check_create, _apply_create))
gov_kinds.register("recover-client", gov_kinds.Kind(_check_recover, _apply_recover))


# -- client methods ------------------------------------------------------------------------------


def _update(ts: TxState, args: dict, now_ms: int, meter: Meter) -> SysResult:
    client = load_client(_getter(ts), args.get("chain_id"))
    header = lc.parse_header(args.get("header"))
    known = load_cons(_getter(ts), client.chain_id, header.height)
    if known is not None and known.header_hash == header.hash():
        return SysResult({"chain_id": client.chain_id, "height": header.height,
                          "result": "known"})
    if header.height <= client.latest.height:
        return _older_update(ts, client, header, known, now_ms, meter)
    new, cons = lc.update(client, args.get("header"), args.get("certificate"),
                          args.get("validators"), now_ms, meter.charge)
    _save_client(ts, new)
    _anchor_height(ts, new, cons, meter.charge)
    return SysResult({"chain_id": new.chain_id, "height": cons.height, "result": "updated"},
                     [(ANCHOR, "ClientUpdated",
                       {"chain_id": new.chain_id, "height": cons.height,
                        "header_hash": cons.header_hash, "time_ms": cons.time_ms,
                        "validators_changed": new.validators != client.validators})])


def _older_update(ts: TxState, client: lc.ClientState, header, known: lc.ConsensusState | None,
                  now_ms: int, meter: Meter) -> SysResult:
    """A header at or below the client's latest height: two relayers raced and the higher one
    landed first. Nothing is written, so it succeeds as a no-op (ANCHOR_ALREADY_UPDATED) when
    it is consistent with what the client anchored: not at an anchored height with another
    hash, its time strictly between its anchored neighbours', extending the anchored header
    right below it if there is one. It is not verified further (no signature is checked), as
    it changes nothing. Anything else is refused (ANCHOR_CONFLICTING_HEADER): if that header is certified
    it is misbehaviour evidence, which only sys.anchor.misbehaviour acts on."""
    lc.require_active(client, now_ms)
    chain, h = client.chain_id, header.height
    E.need(header.chain_id == chain, E.WRONG_CHAIN,
           f"header is for chain {header.chain_id!r}, the client tracks {chain!r}")

    def conflict(why: str) -> CallFailed:
        return CallFailed(E.CONFLICTING_HEADER, f"header {h} of {chain} {why}; if it is "
                          "certified, submit it with the anchored one as misbehaviour")

    if known is not None:
        raise conflict(f"differs from the header anchored at {h} "
                       f"({known.header_hash.hex()[:16]}..)")
    raw = ts.get_raw(ANCHOR, codec.encode(["heights", chain])) or codec.encode([])
    meter.charge(len(raw) * GAS["storage_byte_read"])
    heights = codec.decode(raw)
    i = bisect.bisect_right(heights, h)  # kept in increasing order; h itself is not kept
    below = load_cons(_getter(ts), chain, heights[i - 1]) if i else None
    above = load_cons(_getter(ts), chain, heights[i]) if i < len(heights) else None
    if below is not None:
        if header.timestamp_ms <= below.time_ms:
            raise conflict(f"is not after the anchored header {below.height} in time")
        if below.height == h - 1 and header.prev_hash != below.header_hash:
            raise conflict(f"does not extend the anchored header {below.height}")
    if above is not None and header.timestamp_ms >= above.time_ms:
        raise conflict(f"is not before the anchored header {above.height} in time")
    return SysResult({"chain_id": chain, "height": h, "latest_height": client.latest.height,
                      "result": E.ALREADY_UPDATED})


def _signing_set(ts: TxState, client: lc.ClientState, charge: lc.Charge):
    """Height -> hash of the set the client knows signs it: the anchored header's own set, or
    the next set named by the closest anchored header below (None below every kept one). The
    list of kept heights is read (and paid for like an update's) only for a skipped height."""
    chain = client.chain_id

    def signing_set(h: int) -> bytes | None:
        if h > client.latest.height:
            return client.latest.next_validators_hash
        cons = load_cons(_getter(ts), chain, h)
        if cons is not None:
            return cons.validators_hash
        raw = ts.get_raw(ANCHOR, codec.encode(["heights", chain])) or codec.encode([])
        charge(len(raw) * (GAS["storage_byte_read"] + GAS["storage_byte_write"]))
        heights = codec.decode(raw)
        i = bisect.bisect_right(heights, h)  # kept in increasing order
        below = load_cons(_getter(ts), chain, heights[i - 1]) if i else None
        return None if below is None else below.next_validators_hash

    return signing_set


def _misbehaviour(ts: TxState, sender: str, height: int, args: dict,
                  meter: Meter) -> SysResult:
    get = _getter(ts)
    client = load_client(get, args.get("chain_id"))
    if client.frozen_height:  # idempotent: the first evidence stays, nothing changes
        return SysResult({"chain_id": client.chain_id, "frozen_height": client.frozen_height,
                          "evidence_hash": client.evidence_hash.hex(), "result": "already"})
    verdict = misbehaviour.check(client, _signing_set(ts, client, meter.charge),
                                 lambda h: load_cons(get, client.chain_id, h),
                                 args.get("evidence"), meter.charge)
    frozen = replace(client, frozen_height=verdict.frozen_height,
                     evidence_hash=verdict.evidence_hash)
    _save_client(ts, frozen)
    ts.set(ANCHOR, ["evidence", client.chain_id],
           {"kind": verdict.kind, "frozen_height": verdict.frozen_height,
            "evidence_hash": verdict.evidence_hash, "headers": list(verdict.headers),
            "submitted_by": sender, "host_height": height})
    return SysResult({"chain_id": client.chain_id, "frozen_height": verdict.frozen_height,
                      "evidence_hash": verdict.evidence_hash.hex(), "result": "frozen"},
                     [(ANCHOR, "ClientFrozen",
                       {"chain_id": client.chain_id, "kind": verdict.kind,
                        "frozen_height": verdict.frozen_height,
                        "evidence_hash": verdict.evidence_hash,
                        "headers": list(verdict.headers)})])


# -- packets -------------------------------------------------------------------------------------


def _proof_args(ts: TxState, args: dict, now_ms: int, meter: Meter, chain: str
                ) -> tuple[lc.ConsensusState, Any]:
    cons = proven_height(_getter(ts), chain, args.get("height"), now_ms)
    proof = args.get("proof")
    meter.charge(proofs.proof_gas(proofs.smt_proof_size(proof), 256))
    return cons, proof


def _delivery_gas(executor, block_state: BlockState) -> int:
    """The `delivery_gas` in force for this block: read from the committed state under the
    block's overlays (a change decided in block h governs h+1 on, like every parameter)."""
    base: Any = block_state
    while isinstance(base, BlockState):
        base = base.base
    return chain_params.read(base, executor.genesis).param("delivery_gas")


class _Run:
    """One sys.anchor transaction: state, gas meter, and the VM calls it makes."""

    def __init__(self, executor, block_state: BlockState, ts: TxState, tx: Transaction,
                 height: int, now_ms: int, meter: Meter) -> None:
        self.executor = executor
        self.block_state = block_state
        self.ts = ts
        self.tx = tx
        self.height = height
        self.now_ms = now_ms
        self.meter = meter
        self.vm_writes: list = []
        self.vm_events: Events = []
        self._delivery_gas: int | None = None

    @property
    def delivery_gas(self) -> int:
        if self._delivery_gas is None:  # read once, by the calls that deliver or call back
            self._delivery_gas = _delivery_gas(self.executor, self.block_state)
        return self._delivery_gas

    def call_contract(self, contract: str, method: str, kwargs: dict,
                      optional: bool) -> tuple[bool, Any, str, str]:
        """Run `contract.method(**kwargs)` as sys.anchor with at most `delivery_gas`.
        (ok, value, code, message); an out-of-gas with less than that budget left fails the
        whole transaction so a short gas limit never forges an error acknowledgement or skips
        a callback."""
        from chainnode.vm import CallContext, execute

        registry = self.executor.registry
        rec = registry.record(self.ts, contract)
        if rec is None:
            return False, None, "NO_CONTRACT", f"no contract {contract!r}"
        if rec.get("frozen"):
            return False, None, "CONTRACT_FROZEN", f"contract {contract!r} is frozen"
        compiled = registry.load(self.ts, contract)
        if method not in compiled.exports:
            if optional:
                return True, None, "", ""
            return False, None, "VM_NO_METHOD", f"{contract} has no method {method!r}"
        child = BlockState(self.block_state)
        child.apply((c, k, v) for (c, k), v in sorted(self.ts.writes.items()))
        child.apply(self.vm_writes)
        ctx = CallContext(sender=CALLER, height=self.height, time_ms=self.now_ms,
                          tx_hash=self.tx.hash.hex(), chain_id=self.executor.chain_id)
        left = max(self.meter.limit - self.meter.used, 0)
        budget = min(left, self.delivery_gas)
        r = execute(compiled, method, kwargs, ctx, ContractHost(child, registry), budget,
                    caller_kind="contract")
        self.meter.charge(r.gas_used)
        if not r.ok and r.error_code == E.OUT_OF_GAS and budget < self.delivery_gas:
            raise CallFailed(E.OUT_OF_GAS, f"{contract}.{method} ran out of gas: raise the "
                             "transaction's gas limit (the packet stays pending)")
        if r.ok:
            self.vm_writes.extend(r.writes)
            self.vm_events.extend((e.contract, e.name, e.fields) for e in r.events)
        return r.ok, r.value, r.error_code, r.error_message

    # -- destination side
    def recv(self, args: dict) -> SysResult:
        ts, own = self.ts, self.executor.chain_id
        packet = Packet.from_wire(args.get("packet"))
        nkey = packets.recv_next_key(packet.src_chain)
        next_seq = ts.get(ANCHOR, nkey) or 1
        if packet.dst_chain == own and packet.sequence < next_seq:
            # already landed (another relayer, or a retry): a clear no-op, not a failure
            return SysResult({"result": E.ALREADY_RECEIVED, "sequence": packet.sequence,
                              "src_chain": packet.src_chain})
        decision = packets.recv_decision(packet, own, next_seq, self.height)
        cons, proof = _proof_args(ts, args, self.now_ms, self.meter, packet.src_chain)
        proofs.verify_state(cons, ANCHOR,
                            codec.encode(packets.commit_key(own, packet.sequence)),
                            codec.encode(packet.commitment()), proof)
        if decision == packets.TIMED_OUT:
            ack = {"ok": False, "timeout": True, "code": E.PACKET_TIMEOUT,
                   "message": f"arrived at height {self.height} >= timeout "
                              f"{packet.timeout_height}"}
        else:
            marks = len(self.vm_writes), len(self.vm_events)
            ok, value, code, message = self.call_contract(
                packet.dst_contract, packet.method,
                {"src_chain": packet.src_chain, "src_contract": packet.src_contract,
                 "sequence": packet.sequence, "payload": packet.payload}, optional=False)
            ack = ({"ok": True, "result": value} if ok
                   else {"ok": False, "code": code, "message": message})
            size = len(codec.encode(value)) if ok else 0
            if size > packets.MAX_ACK_RESULT_BYTES:  # too big to store and relay: undo it
                del self.vm_writes[marks[0]:], self.vm_events[marks[1]:]
                ack = {"ok": False, "code": E.ACK_TOO_LARGE,
                       "message": f"{packet.dst_contract}.{packet.method} returned {size} "
                                  f"bytes; at most {packets.MAX_ACK_RESULT_BYTES} fit an ack"}
        record = codec.encode(packets.ack_record(packet, ack))
        self.meter.charge(len(record) * GAS["storage_byte_write"])
        ts.set(ANCHOR, nkey, packet.sequence + 1)
        ts.set(ANCHOR, packets.ack_key(packet.src_chain, packet.sequence),
               packets.ack_record(packet, ack))
        return SysResult({"result": "timeout" if decision == packets.TIMED_OUT else "delivered",
                          "sequence": packet.sequence, "src_chain": packet.src_chain,
                          "proof_height": cons.height, "ack": ack},
                         [(ANCHOR, "PacketReceived",
                           {**packet.to_json(), "proof_height": cons.height,
                            "ok": ack["ok"], "timeout": bool(ack.get("timeout"))})])

    # -- source side
    def _pending(self, packet: Packet) -> bool:
        """True if the packet still awaits its ack; False if it was settled already."""
        own = self.executor.chain_id
        if packet.src_chain != own:
            raise CallFailed(E.BAD_PACKET, f"packet was sent by {packet.src_chain}, not {own}")
        if self.ts.get(ANCHOR, packets.settled_key(packet.dst_chain, packet.sequence)):
            return False
        stored = self.ts.get(ANCHOR, packets.commit_key(packet.dst_chain, packet.sequence))
        if stored is None:
            sent = (self.ts.get(ANCHOR, packets.send_next_key(packet.dst_chain)) or 1)
            if packet.sequence < sent:
                return False
            raise CallFailed(E.PACKET_UNKNOWN, f"this chain never sent packet "
                             f"{packet.sequence} to {packet.dst_chain}")
        if stored != packet.commitment():
            raise CallFailed(E.BAD_PACKET, "packet does not match the one this chain sent")
        return True

    def _settle(self, packet: Packet, method: str, kwargs: dict, result: str,
                proof_height: int) -> SysResult:
        if result == "acknowledged":
            self.ts.delete(ANCHOR, packets.commit_key(packet.dst_chain, packet.sequence))
            self.ts.delete(ANCHOR, packets.packet_key(packet.dst_chain, packet.sequence))
        else:  # the destination may still need to prove it to move past it (ordered channel)
            self.ts.set(ANCHOR, packets.settled_key(packet.dst_chain, packet.sequence), result)
        ok, _, code, message = self.call_contract(packet.src_contract, method,
                                                  {"dst_chain": packet.dst_chain,
                                                   "sequence": packet.sequence, **kwargs},
                                                  optional=True)
        events: Events = [(ANCHOR, "PacketAcknowledged" if result == "acknowledged"
                           else "PacketTimedOut", {**packet.to_json(),
                                                   "proof_height": proof_height})]
        if not ok:
            events.append((ANCHOR, "PacketCallbackFailed",
                           {"contract": packet.src_contract, "method": method, "code": code,
                            "sequence": packet.sequence, "dst_chain": packet.dst_chain}))
        return SysResult({"result": result, "sequence": packet.sequence,
                          "dst_chain": packet.dst_chain, "callback_ok": ok,
                          "callback_error": message}, events)

    def acknowledge(self, args: dict) -> SysResult:
        packet = Packet.from_wire(args.get("packet"))
        ack = args.get("ack")
        if not isinstance(ack, dict):
            raise CallFailed(E.BAD_ARGS, "ack must be the map the destination stored")
        if not self._pending(packet):
            return SysResult({"result": E.ALREADY_SETTLED, "sequence": packet.sequence,
                              "dst_chain": packet.dst_chain})
        cons, proof = _proof_args(self.ts, args, self.now_ms, self.meter, packet.dst_chain)
        proofs.verify_state(cons, ANCHOR,
                            codec.encode(packets.ack_key(packet.src_chain, packet.sequence)),
                            codec.encode(packets.ack_record(packet, ack)), proof)
        if ack.get("timeout"):
            return self._settle(packet, "on_packet_timeout", {}, "timed_out", cons.height)
        return self._settle(packet, "on_packet_ack", {"ack": ack}, "acknowledged",
                            cons.height)

    def timeout(self, args: dict) -> SysResult:
        packet = Packet.from_wire(args.get("packet"))
        if not self._pending(packet):
            return SysResult({"result": E.ALREADY_SETTLED, "sequence": packet.sequence,
                              "dst_chain": packet.dst_chain})
        cons, proof = _proof_args(self.ts, args, self.now_ms, self.meter, packet.dst_chain)
        if not packet.timeout_height or cons.height < packet.timeout_height:
            raise CallFailed(E.NOT_TIMED_OUT, f"packet {packet.sequence} times out at "
                             f"{packet.dst_chain} height {packet.timeout_height}; the proof "
                             f"is of height {cons.height}")
        proofs.verify_absent(cons, ANCHOR,
                             codec.encode(packets.ack_key(packet.src_chain, packet.sequence)),
                             proof)
        return self._settle(packet, "on_packet_timeout", {}, "timed_out", cons.height)


def run(executor, block_state: BlockState, ts: TxState, tx: Transaction, sender: str,
        height: int, now_ms: int, base_gas: int) -> Receipt:
    """Execute one transaction to sys.anchor; the receipt carries every gas unit it used."""
    meter = Meter(max(tx.gas_limit - base_gas, 0))
    run = _Run(executor, block_state, ts, tx, height, now_ms, meter)
    try:
        if tx.method in VIEWS:
            res = query(ts, now_ms, tx.method, tx.args)
        else:
            if tx.method not in MUTATING:
                raise CallFailed("NO_METHOD", f"sys.anchor has no method {tx.method!r}")
            if not (has_role(ts, sender, "relayer") or has_role(ts, sender, "admin")):
                raise CallFailed(E.PERMISSION, f"only relayers or admins may call "
                                 f"sys.anchor.{tx.method}")
            meter.charge(((len(codec.encode(tx.args)) + 63) >> 6) * ARG_CHUNK_GAS)
            if tx.method == "update":
                res = _update(ts, tx.args, now_ms, meter)
            elif tx.method == "misbehaviour":
                res = _misbehaviour(ts, sender, height, tx.args, meter)
            elif tx.method == "recv":
                res = run.recv(tx.args)
            elif tx.method == "acknowledge":
                res = run.acknowledge(tx.args)
            else:
                res = run.timeout(tx.args)
    except AnchorError as exc:
        return _failed(tx, base_gas + min(meter.used, meter.limit), exc.code, exc.message)
    except CallFailed as exc:
        return _failed(tx, base_gas + min(meter.used, meter.limit), exc.code, exc.message)
    ts.commit()
    block_state.apply(run.vm_writes)
    events = res.events[:1] + run.vm_events + res.events[1:]
    return Receipt(tx.hash, Receipt.OK, base_gas + meter.used, res.value, tuple(events))


def _failed(tx: Transaction, gas: int, code: str, message: str) -> Receipt:
    from chainnode.vm import errtext

    return Receipt(tx.hash, Receipt.FAILED, gas, None, (), code, errtext.bounded(message))


# -- views ---------------------------------------------------------------------------------------


def query(ts: TxState, now_ms: int, method: str, args: dict) -> SysResult:
    """Read-only views for relayers and operators (also through POST /query)."""
    get = _getter(ts)
    chain = args.get("chain_id")
    try:
        if method == "clients":
            out = []
            for c in ts.get(ANCHOR, ["clients"], []):
                out.append(load_client(get, c).to_json(now_ms))
            return SysResult(out)
        if method == "client":
            c = load_client(get, chain)
            doc = c.to_json(now_ms)
            doc["heights"] = ts.get(ANCHOR, ["heights", c.chain_id], [])
            ev = ts.get(ANCHOR, ["evidence", c.chain_id])
            doc["evidence"] = None if ev is None else {
                k: (v.hex() if isinstance(v, bytes) else v) for k, v in ev.items()}
            return SysResult(doc)
        if method == "consensus":
            load_client(get, chain)
            cons = load_cons(get, chain, args.get("height"))
            return SysResult(None if cons is None else cons.to_json())
        if method == "next_send":
            return SysResult(ts.get(ANCHOR, packets.send_next_key(chain)) or 1)
        if method == "next_recv":
            return SysResult(ts.get(ANCHOR, packets.recv_next_key(chain)) or 1)
        if method == "packet":
            w = ts.get(ANCHOR, packets.packet_key(chain, args.get("sequence")))
            return SysResult(w)
        if method == "ack":
            return SysResult(ts.get(ANCHOR, packets.ack_key(chain, args.get("sequence"))))
    except AnchorError as exc:
        raise _failed_call(exc) from None
    raise CallFailed("NO_METHOD", f"sys.anchor has no view {method!r}")
