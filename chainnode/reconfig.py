"""The node's side of a validator-set change at h+1 (governance): tell the consensus core,
re-check who may talk consensus, and fix the peer links.

The chain records each epoch with the block that decided it (chainnode.epochs). After every
commit or sync, `Reconfig.after_head_moved()`:

1. posts `NewEpoch` to the consensus driver for every epoch it has not told yet, BEFORE the
   caller posts BlockCommitted / SyncedTo, so the core enters the new height under its rules;
2. on a change of the set: sets the node's own network role (a node learns it was added when
   its key appears in the set of head + 1, and becomes an observer when removed), re-grants
   every connected peer's role (validator, observer if still a member, else disconnected),
   and dials every validator of the new set at its governed `p2p` address.
"""

from __future__ import annotations

import logging

from chainnode import codec
from chainnode.consensus.events import NewEpoch
from chainnode.consensus.messages import Message, NewView, ViewChange
from chainnode.epochs import ChainEpoch
from chainnode.exec.system import VALIDATORS

log = logging.getLogger("chainnode.reconfig")


def message_height(msg: Message) -> int:
    """The height whose validator set the sender's index belongs to."""
    if isinstance(msg, ViewChange):
        return msg.committed_height + 1
    if isinstance(msg, NewView):
        return max((vc.committed_height for vc in msg.view_changes), default=0) + 1
    return msg.height


def sender_keys(chain, msg: Message) -> list[bytes]:
    """Public keys the sender index of `msg` may stand for: the set of the message's height
    first (the current set for heights beyond head + 1), then the other recent sets, so a
    message signed under a neighbouring set (a peer one block behind a change) is not taken
    for a forgery. The core checks it again against the exact set."""
    top = chain.head.height + 1
    first = chain.epoch_at(min(max(message_height(msg), 1), top))
    out = []
    for e in (first, *reversed(chain.recent_epochs(3))):
        if 0 <= msg.sender < len(e.validators):
            key = e.validators[msg.sender].public_key
            if key not in out:
                out.append(key)
    return out


def p2p_address(chain, name: str) -> tuple[str, int] | None:
    """The governed `p2p` address of validator `name` (set by add-validator), if any."""
    raw = chain.db.state_get(VALIDATORS, codec.encode(["p2p", name]))
    if raw is None:
        return None
    host, _, port = codec.decode(raw).rpartition(":")
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


class Reconfig:
    def __init__(self, node) -> None:
        self.node = node
        self._told: ChainEpoch | None = None  # the latest epoch the core was told about
        self._roles_for: ChainEpoch = node.chain.epoch_at(node.chain.head.height + 1)

    def mark_told(self) -> None:
        """The core was built from the chain's epochs: nothing to tell yet."""
        self._told = self.node.chain.epochs()[-1]

    def epoch_events(self) -> list[NewEpoch]:
        chain = self.node.chain
        start = self._told.start if self._told is not None else 0
        new = [e for e in chain.epochs() if e.start > start]
        if new:
            self._told = new[-1]
        return [NewEpoch(e.for_consensus()) for e in new]

    def after_head_moved(self, post) -> None:
        """Post pending NewEpoch events with `post` and re-grant roles if the set changed."""
        for ev in self.epoch_events():
            log.info("consensus: epoch from height %d: %d validators, view timeout %d ms",
                     ev.epoch.start, ev.epoch.n, ev.epoch.base_timeout_ms)
            post(ev)
        cur = self.node.chain.epoch_at(self.node.chain.head.height + 1)
        if cur.validators != self._roles_for.validators:
            self._roles_for = cur
            self.refresh_roles(cur)

    def refresh_roles(self, epoch: ChainEpoch) -> None:
        node = self.node
        me = epoch.index_of(node.key.public_key.raw)
        log.info("validator set of height %d: %d validators; this node is %s", epoch.start,
                 len(epoch.validators), "an observer" if me is None else f"validator {me}")
        net = node.net
        if net is None:
            return
        net.role = "validator" if me is not None else "observer"
        net.regrant(node.authorize)
        if me is None:
            return
        for v in epoch.validators:
            addr = p2p_address(node.chain, v.name)
            if v.public_key != node.key.public_key.raw and addr is not None:
                net.add_peer(*addr)
