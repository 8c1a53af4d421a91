"""PBFT consensus as a sans-IO state machine: events in, actions out.

The shell (chainnode.node) owns I/O and feeds `ConsensusCore.handle(event)`; the core returns
a list of actions the shell executes in order (a Persist always precedes the Send that relies
on it). The core reads no clock, opens no socket and draws no randomness, so the seeded
simulator in tests/sim runs exactly this code. Full protocol: docs/consensus.md.

Modules: config (parameters, leader, quorum, timeouts), messages (wire dataclasses),
events / actions (the interface), verify (signature and certificate checks over the injected
verifier), log (vote quorums and early proposals), viewchange (NEW-VIEW rule), state (what
survives a crash; never double-vote), node (the state machine: normal case), progress (its
timers and catch-up), views (its view changes, NEW-VIEW, returning to the live view),
epoch / switch (validator sets and view timeouts per height, and entering a new one).
"""

from chainnode.consensus.actions import (
    Action,
    BuildProposal,
    CancelTimer,
    CatchUp,
    CommitBlock,
    GrowCertificate,
    Persist,
    Send,
    SetTimer,
    ValidateBlock,
)
from chainnode.consensus.config import ConsensusConfig
from chainnode.consensus.epoch import Epoch
from chainnode.consensus.events import (
    BlockCommitted,
    BlockValidated,
    Event,
    MessageReceived,
    NewEpoch,
    ProposalReady,
    Start,
    SyncedTo,
    TimerFired,
    TransactionsPending,
)
from chainnode.consensus.messages import (
    Commit,
    Message,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    ViewChange,
    decode_message,
    encode_message,
)
from chainnode.consensus.node import ConsensusCore
from chainnode.consensus.verify import Sign, Verify, signature_checks

__all__ = [
    "Action", "BuildProposal", "CancelTimer", "CatchUp", "CommitBlock", "GrowCertificate",
    "Persist", "Send",
    "SetTimer", "ValidateBlock", "ConsensusConfig", "BlockCommitted", "BlockValidated", "Event",
    "MessageReceived", "NewEpoch", "Epoch", "ProposalReady", "Start", "SyncedTo", "TimerFired",
    "TransactionsPending", "Commit", "Message", "NewView", "PreparedCertificate", "PrePrepare",
    "Prepare", "ViewChange", "decode_message", "encode_message", "ConsensusCore", "Sign",
    "Verify", "signature_checks",
]
