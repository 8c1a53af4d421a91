"""Host functions for side chains: proofs against anchored headers, and sending packets.

- `anchor_header(chain, height)`: the anchored header's roots and time (a dict), if the light
  client of `chain` is Active and keeps that height.
- `anchor_state(chain, height, contract, key, value, proof)`: True, or the call fails with
  ANCHOR_BAD_STATE_PROOF (...): `contract`'s storage key held `value` at that height.
- `anchor_absent(chain, height, contract, key, proof)`: True, or ANCHOR_BAD_ABSENCE_PROOF.
- `anchor_receipt(chain, height, receipt, path)`: the proven receipt as a dict, or
  ANCHOR_BAD_RECEIPT_PROOF; its events are read from the proven bytes.
- `send_packet(dst_chain, dst_contract, method, payload, timeout_height=0)`: the sequence.

Failures are final for the call (like require), never False: a contract cannot forget to
check. Gas: two storage reads for the client and height, then chainnode.anchor.proofs'
proof_gas (one SM3 per sibling and per 64 bytes), charged before verifying.
"""

from __future__ import annotations

from typing import Any

from chainnode import codec
from chainnode.anchor import errors as E
from chainnode.anchor import ledger, proofs
from chainnode.anchor.errors import AnchorError
from chainnode.vm.api import Event
from chainnode.vm.common import type_error
from chainnode.vm.errors import VMError
from chainnode.vm.gas import GAS, MAX_EVENTS, MAX_VALUE_BYTES, MAX_VALUE_DEPTH

ANCHOR = ledger.ANCHOR


class AnchorHostAPI:
    """Mixin of Runtime (uses its meter, host, writes, events and value encoding)."""

    def _anchor_get(self, key: Any) -> Any:
        kb = codec.encode(key)
        self.charge(GAS["storage_read"] + len(kb) * GAS["storage_byte_read"])
        slot = (ANCHOR, kb)
        raw = self.writes[slot] if slot in self.writes else self.call_host(
            self.host.storage_get, ANCHOR, kb)
        if raw is None:
            return None
        raw = bytes(raw)
        self.charge(len(raw) * GAS["storage_byte_read"])
        self.decode_cost(raw)
        return codec.decode(raw)

    def _anchored(self, chain: Any, height: Any):
        if type(chain) is not str or type(height) is not int:
            raise type_error("anchor functions need a chain id (str) and a height (int)")
        try:
            return ledger.proven_height(self._anchor_get, chain, height, self.ctx.time_ms)
        except AnchorError as exc:
            raise VMError(exc.code, exc.message) from None

    def _proof_bytes(self, proof: Any, code: str) -> bytes:
        if type(proof) is not bytes or len(proof) > proofs.MAX_PROOF_BYTES:
            raise VMError(code, f"proof must be bytes of at most {proofs.MAX_PROOF_BYTES}")
        self.charge(proofs.proof_gas(proofs.smt_proof_size(proof), len(proof)))
        return proof

    def anchor_header(self, chain: Any, height: Any) -> dict:
        cons = self._anchored(chain, height)
        return self.copy_value(cons.to_json(), MAX_VALUE_BYTES)

    def anchor_state(self, chain: Any, height: Any, contract: Any, key: Any, value: Any,
                     proof: Any) -> bool:
        cons = self._anchored(chain, height)
        kb = self.storage_key(key)
        raw = self.encode_value(value, MAX_VALUE_BYTES, MAX_VALUE_DEPTH)
        p = self._proof_bytes(proof, E.BAD_STATE_PROOF)
        self._verify(proofs.verify_state, cons, self._contract(contract), kb, raw, p)
        return True

    def anchor_absent(self, chain: Any, height: Any, contract: Any, key: Any,
                      proof: Any) -> bool:
        cons = self._anchored(chain, height)
        kb = self.storage_key(key)
        p = self._proof_bytes(proof, E.BAD_ABSENCE_PROOF)
        self._verify(proofs.verify_absent, cons, self._contract(contract), kb, p)
        return True

    def anchor_receipt(self, chain: Any, height: Any, receipt: Any, path: Any) -> dict:
        cons = self._anchored(chain, height)
        if type(receipt) is not bytes or type(path) is not list:
            raise type_error("anchor_receipt needs the receipt's bytes and a list path")
        self.charge(proofs.proof_gas(min(len(path), proofs.MAX_RECEIPT_PATH + 1),
                                     len(receipt)))
        rc = self._verify(proofs.verify_receipt, cons, receipt, path)
        self.decode_cost(receipt)
        doc = {"tx_hash": rc.tx_hash.hex(), "ok": rc.ok, "value": rc.value,
               "gas_used": rc.gas_used, "error_code": rc.error_code,
               "events": [{"contract": c, "name": n, "fields": f} for c, n, f in rc.events]}
        return self.copy_value(doc, proofs.MAX_RECEIPT_BYTES)

    def _contract(self, contract: Any) -> str:
        if type(contract) is not str or not 1 <= len(contract) <= 64:
            raise type_error("contract must be a contract name (str)")
        return contract

    def _verify(self, fn, *args: Any) -> Any:
        try:
            return fn(*args)
        except AnchorError as exc:
            raise VMError(exc.code, exc.message) from None

    def send_packet(self, frame: Any, dst_chain: Any, dst_contract: Any, method: Any,
                    payload: Any, timeout_height: Any = 0) -> int:
        self._writable(frame)
        if len(self.events) >= MAX_EVENTS:
            raise VMError("VM_SIZE_LIMIT", f"more than {MAX_EVENTS} events")
        payload = self.copy_value(payload, MAX_VALUE_BYTES, MAX_VALUE_DEPTH)
        try:
            packet, writes = ledger.send(self._anchor_get, self.ctx.chain_id, frame.contract,
                                         dst_chain, dst_contract, method, payload,
                                         timeout_height, self.ctx.time_ms)
        except AnchorError as exc:
            raise VMError(exc.code, exc.message) from None
        for key, value in writes:
            kb, raw = codec.encode(key), codec.encode(value)
            self.charge(GAS["storage_write"] + (len(kb) + len(raw)) * GAS["storage_byte_write"])
            self.writes[(ANCHOR, kb)] = raw
        fields = {**packet.to_json(), "packet": packet.to_wire()}
        self.charge(GAS["event"] + len(codec.encode(fields)) * GAS["event_byte"])
        self.events.append(Event(ANCHOR, "PacketSent", codec.decode(codec.encode(fields))))
        return packet.sequence
