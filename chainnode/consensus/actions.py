"""Outputs of the consensus core. The shell executes them in order; a Persist always comes
before the Send that depends on it, so executing in order is what makes persist-before-send
hold."""

from __future__ import annotations

from dataclasses import dataclass

from chainnode.consensus.messages import Message
from chainnode.core.certificate import CommitCertificate


@dataclass(frozen=True)
class Persist:
    """Write these records to the consensus WAL in one synced batch before going on.

    Keys and values are opaque to the shell (see chainnode.store.wal); `deletes` are keys
    that are no longer needed.
    """

    puts: tuple[tuple[bytes, bytes], ...]
    deletes: tuple[bytes, ...] = ()


@dataclass(frozen=True)
class Send:
    """Send `message` to validator `to`, or to every other validator when `to` is None."""

    message: Message
    to: int | None = None


@dataclass(frozen=True)
class SetTimer:
    """(Re)arm the core's single timer; deliver TimerFired(token) after delay_ms."""

    token: int
    delay_ms: int


@dataclass(frozen=True)
class CancelTimer:
    """Disarm the timer; nothing is expected until new work arrives."""


@dataclass(frozen=True)
class BuildProposal:
    """This node leads (height, view): answer with ProposalReady once a block is ready.

    The shell may wait for transactions before answering; it should not answer with an
    empty block unless empty blocks are configured.
    """

    height: int
    view: int


@dataclass(frozen=True)
class ValidateBlock:
    """Check and execute `block` on top of the committed head; answer with BlockValidated."""

    height: int
    view: int
    block_hash: bytes
    block: bytes


@dataclass(frozen=True)
class CommitBlock:
    """A quorum committed this block: write block and certificate in one batch, apply it,
    then answer with BlockCommitted. The body is included in case the execution result of
    ValidateBlock is not cached."""

    height: int
    block_hash: bytes
    block: bytes
    certificate: CommitCertificate


@dataclass(frozen=True)
class CatchUp:
    """Evidence shows the network committed at least `height`; fetch certified blocks and
    answer with SyncedTo. Consensus at older heights is paused meanwhile."""

    height: int


@dataclass(frozen=True)
class GrowCertificate:
    """A COMMIT for a recently committed height arrived after its certificate was made:
    here is that certificate with it added. The shell may store it in place of the committed one
    (same block, more validators' votes, so the next block's BFT time and anyone counting
    votes see them); ignoring it is harmless."""

    certificate: CommitCertificate


Action = (Persist | Send | SetTimer | CancelTimer | BuildProposal | ValidateBlock
          | CommitBlock | CatchUp | GrowCertificate)
