"""Reading and writing `sys.anchor`'s records through a caller-supplied getter.

Shared by the system contract (chainnode.exec.anchor) and the VM's host functions
(chainnode.vm.hostanchor), which hold state differently; neither I/O nor a clock here: `get`
returns the decoded value stored under a key of `sys.anchor` (or None) and writes are returned
as (key, value-or-None) pairs for the caller to apply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode.anchor.errors import NO_CLIENT, NO_HEIGHT, need
from chainnode.anchor.lightclient import ClientState, ConsensusState, require_active
from chainnode.anchor.packets import Packet, commit_key, packet_key, send_next_key

ANCHOR = "sys.anchor"
Getter = Callable[[Any], Any]
Writes = list[tuple[Any, Any]]


def client_key(chain: str) -> list:
    return ["client", chain]


def cons_key(chain: str, height: int) -> list:
    return ["cons", chain, height]


def load_client(get: Getter, chain: Any) -> ClientState:
    raw = get(client_key(chain)) if isinstance(chain, str) else None
    need(isinstance(raw, dict), NO_CLIENT, f"no light client of chain {chain!r} on this chain")
    return ClientState.from_wire(raw)


def load_cons(get: Getter, chain: str, height: Any) -> ConsensusState | None:
    raw = get(cons_key(chain, height)) if type(height) is int else None
    return ConsensusState.from_wire(raw) if isinstance(raw, dict) else None


def proven_height(get: Getter, chain: Any, height: Any, now_ms: int) -> ConsensusState:
    """The anchored header a proof is checked against: the client must be Active."""
    client = load_client(get, chain)
    require_active(client, now_ms)
    cons = load_cons(get, chain, height)
    need(cons is not None, NO_HEIGHT,
         f"no header of {chain} anchored at height {height!r} (not yet relayed, or pruned)")
    assert cons is not None
    return cons


def send(get: Getter, own_chain: str, src_contract: str, dst_chain: Any, dst_contract: Any,
         method: Any, payload: Any, timeout_height: Any, now_ms: int) -> tuple[Packet, Writes]:
    """Commit a new packet from `src_contract` to `dst_chain`, which must have an Active
    client here (its acknowledgement must be provable later)."""
    require_active(load_client(get, dst_chain), now_ms)
    seq = get(send_next_key(dst_chain)) or 1
    p = Packet(own_chain, src_contract, dst_chain, dst_contract, method, payload, seq,
               timeout_height)
    p.validate()
    writes: Writes = [(send_next_key(dst_chain), seq + 1),
                      (commit_key(dst_chain, seq), p.commitment()),
                      (packet_key(dst_chain, seq), p.to_wire())]
    return p, writes
