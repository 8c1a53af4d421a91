"""Inputs to the consensus core. The shell turns I/O and its own results into these."""

from __future__ import annotations

from dataclasses import dataclass

from chainnode.consensus.epoch import Epoch
from chainnode.consensus.messages import Message
from chainnode.core.certificate import CommitCertificate


@dataclass(frozen=True)
class Start:
    """First event after construction: re-sends persisted votes and arms timers."""


@dataclass(frozen=True)
class MessageReceived:
    """A decoded message from any peer (see messages.decode_message); the core checks it."""

    message: Message


@dataclass(frozen=True)
class TimerFired:
    """The timer set by SetTimer(token) expired; stale tokens are ignored."""

    token: int


@dataclass(frozen=True)
class TransactionsPending:
    """The mempool has (or no longer has) transactions waiting for a block."""

    pending: bool


@dataclass(frozen=True)
class ProposalReady:
    """Answer to BuildProposal: the block the leader proposes at (height, view)."""

    height: int
    view: int
    block_hash: bytes
    block: bytes


@dataclass(frozen=True)
class BlockValidated:
    """Answer to ValidateBlock: the block decodes, hashes to block_hash, extends the head
    and executes to the state root in its header."""

    height: int
    view: int
    block_hash: bytes
    valid: bool


@dataclass(frozen=True)
class BlockCommitted:
    """Answer to CommitBlock: the block and its certificate are durable."""

    height: int
    block_hash: bytes


@dataclass(frozen=True)
class SyncedTo:
    """The sync layer made certified blocks up to `height` durable (answer to CatchUp)."""

    height: int
    block_hash: bytes
    certificate: CommitCertificate


@dataclass(frozen=True)
class NewEpoch:
    """From `epoch.start` on, `epoch` governs (validator set, view timeouts). The shell sends
    it as soon as it committed the block before that start, BEFORE the BlockCommitted or
    SyncedTo that reaches it, so the core enters the new height under the new rules."""

    epoch: Epoch


Event = (Start | MessageReceived | TimerFired | TransactionsPending | ProposalReady
         | BlockValidated | BlockCommitted | SyncedTo | NewEpoch)
