"""Python SDK: build and sign transactions, submit, wait for commit, read and verify state.

Trust comes from the genesis file the client holds: a state answer is accepted only if its SMT
proof checks against a header whose commit certificate carries a quorum of signatures from the
genesis validators. A single lying node cannot forge that.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from chainnode import codec
from chainnode.core.block import BlockHeader
from chainnode.core.certificate import CommitCertificate
from chainnode.core.genesis import Genesis, validators_hash
from chainnode.core.query import sign_query
from chainnode.core.tx import Transaction, build_tx
from chainnode.crypto import domain
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import PrivateKey, PublicKey
from chainnode.errors import TX_EXPIRY_TOO_FAR, TX_GAS_LIMIT
from chainnode.store.db import state_key_hash
from chainnode.store.smt import EMPTY_ROOT, SmtProof, verify_proof

_EXPIRES_IN = 500  # build()'s default lifetime in blocks
_REFIT_CODES = (TX_GAS_LIMIT, TX_EXPIRY_TOO_FAR)  # refused under lowered live limits: refit


class RpcError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ProofError(Exception):
    pass


@dataclass(frozen=True)
class VerifiedState:
    contract: str
    key: bytes
    value: Any
    exists: bool
    height: int
    state_root: bytes


class Client:
    def __init__(self, url: str, key: PrivateKey | None = None, *, chain_id: str | None = None,
                 timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self._chain_id = chain_id

    # -- transport
    def _request(self, method: str, path: str, body: bytes | None = None,
                 ctype: str = "application/json", timeout: float | None = None) -> Any:
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers={"Content-Type": ctype} if body is not None else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                err = json.loads(raw)["error"]
                raise RpcError(exc.code, err["code"], err["message"]) from None
            except (ValueError, KeyError, TypeError):
                raise RpcError(exc.code, "HTTP", raw[:200].decode(errors="replace")) from None

    def get(self, path: str) -> Any:
        return self._request("GET", path)

    # -- reads
    def status(self) -> dict:
        return self.get("/status")

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = self.status()["chain_id"]
        return self._chain_id

    def height(self) -> int:
        return self.status()["height"]

    def tx(self, tx_hash: str) -> dict:
        return self.get(f"/tx/{tx_hash}")

    def block(self, height: int) -> dict:
        return self.get(f"/blocks/{height}")

    def query(self, contract: str, method: str, args: dict | None = None, *,
              signed: bool = False) -> Any:
        """Run a @view read-only. Anonymous by default (ctx.sender == ""); with `signed`, the
        query is signed in the `query` domain with this client's key (fresh time and nonce,
        usable once) and the view sees ctx.sender = this key's address."""
        return self.query_result(contract, method, args, signed=signed)["value"]

    def query_result(self, contract: str, method: str, args: dict | None = None, *,
                     signed: bool = False) -> dict:
        """The whole answer of POST /query: value, height and gas_used."""
        doc: dict[str, Any] = {"contract": contract, "method": method, "args": args or {}}
        if signed:
            if self.key is None:
                raise ValueError("a signed query needs a client with a signing key")
            doc["auth"] = sign_query(self.key, self.chain_id, contract, method, doc["args"])
        return self._request("POST", "/query", json.dumps(doc).encode())

    # -- writes
    def build(self, kind: str, contract: str, method: str, args: dict, *,
              gas_limit: int = 5_000_000, expires_in: int = _EXPIRES_IN,
              height: int | None = None) -> Transaction:
        if self.key is None:
            raise ValueError("this client has no signing key")
        h = self.height() if height is None else height
        return build_tx(self.key, self.chain_id, kind, contract, method, args,
                        expires_at=h + expires_in, gas_limit=gas_limit)

    def submit(self, tx: Transaction, *, wait: bool = True, timeout: float = 30.0) -> dict:
        path = f"/tx?wait=commit&timeout={timeout}" if wait else "/tx"
        return self._request("POST", path, tx.encode(), "application/msgpack",
                             timeout=timeout + 10)

    def submit_many(self, txs: list[Transaction], *, wait: bool = True,
                    timeout: float = 30.0) -> list[dict]:
        """POST /txs: one request for many transactions; per-tx results in order."""
        from chainnode import codec as _codec

        path = f"/txs?wait=commit&timeout={timeout}" if wait else "/txs"
        body = _codec.encode([tx.encode() for tx in txs])
        return self._request("POST", path, body, "application/msgpack",
                             timeout=timeout + 10)["results"]

    def call(self, contract: str, method: str, args: dict | None = None, *,
             wait: bool = True, gas_limit: int = 5_000_000) -> dict:
        """Send a call. If admission refuses its gas limit or expiry under parameters that
        governance lowered, refit it to the live limits (GET /governance) and send it once
        more: the committee's own tools must still work after an in-range change."""
        kind = "system" if contract.startswith("sys.") else "call"
        try:
            return self.submit(self.build(kind, contract, method, args or {},
                                          gas_limit=gas_limit), wait=wait)
        except RpcError as exc:
            if exc.code not in _REFIT_CODES:
                raise
            try:
                live = self.get("/governance")["params"]
            except (RpcError, KeyError, TypeError):
                raise exc from None  # a node without the governance RPC: the first answer
        return self.submit(self.build(
            kind, contract, method, args or {},
            gas_limit=min(gas_limit, live["tx_gas_limit"], live["block_gas_limit"]),
            expires_in=min(_EXPIRES_IN, live["max_expiry_window"])), wait=wait)

    def deploy(self, name: str, source: str, init_args: dict | None = None, *,
               gas_limit: int = 20_000_000) -> dict:
        tx = self.build("deploy", name, "deploy",
                        {"source": source, "init_args": init_args or {}}, gas_limit=gas_limit)
        return self.submit(tx)

    def register(self, address: str, roles: list[str], name: str = "") -> dict:
        return self.call("sys.members", "register",
                         {"address": address, "roles": roles, "name": name})

    # -- verified reads
    def state(self, contract: str, key: Any, genesis: Genesis | None = None) -> VerifiedState:
        """Read a state value; with `genesis`, verify its proof against a certified header."""
        raw_key = codec.encode(key)
        doc = self.get(f"/state/{contract}/_?key_hex={raw_key.hex()}&prove=1")
        if genesis is None:
            value = codec.decode(bytes.fromhex(doc["value_hex"])) if doc["exists"] else None
            return VerifiedState(contract, raw_key, value, doc["exists"], doc["height"], b"")
        return verify_state_doc(doc, contract, raw_key, genesis)


def verify_state_doc(doc: dict, contract: str, raw_key: bytes, genesis: Genesis,
                     validators: tuple | None = None) -> VerifiedState:
    """Check an RPC state answer end to end; raise ProofError if anything does not add up.

    The certificate is checked against `validators` (default: the genesis set), which must be
    the set the header names (`validators_hash`): after a governance change the caller passes
    the set of that height it trusts (e.g. followed through next_validators_hash)."""
    try:
        proof = SmtProof.from_wire(codec.decode(bytes.fromhex(doc["proof"])))
        value_raw = bytes.fromhex(doc["value_hex"]) if doc["exists"] else None
        if doc["height"] == 0:
            raise ProofError("state at genesis has no certified header; wait for block 1")
        header = BlockHeader.from_wire(codec.decode(bytes.fromhex(doc["header_wire"])))
        cert = CommitCertificate.decode(bytes.fromhex(doc["certificate"]))
    except (KeyError, ValueError, codec.CodecError) as exc:
        raise ProofError(f"malformed proof answer: {exc}") from exc
    vals = tuple(validators) if validators is not None else genesis.validators
    if validators_hash(vals) != header.validators_hash:
        raise ProofError(f"header {header.height} is signed by validator set "
                         f"{header.validators_hash.hex()[:12]}, not the trusted set "
                         f"{validators_hash(vals).hex()[:12]} (the set changed by governance: "
                         "pass the set of that height)")

    def verify(i: int, payload: bytes, sig: bytes) -> bool:
        return domain.verify(PublicKey(vals[i].public_key), "commit", genesis.chain_id,
                             payload, sig)

    try:
        cert.check(len(vals), verify, chain_id=genesis.chain_id, height=header.height,
                   block_hash=header.hash())
    except ValueError as exc:
        raise ProofError(f"header not certified: {exc}") from exc
    kh = state_key_hash(contract, raw_key)
    vh = None if value_raw is None else sm3(value_raw)
    root = header.state_root
    if not verify_proof(root, kh, vh, proof) and not (root == EMPTY_ROOT and vh is None):
        raise ProofError("SMT proof does not verify against the certified state root")
    value = None if value_raw is None else codec.decode(value_raw)
    return VerifiedState(contract, raw_key, value, value_raw is not None, header.height, root)
