"""What the core must remember across a crash, and the rule that it never votes twice.

The persisted state is small: the current view (and whether we are still waiting for its
NEW-VIEW), every message this node signed that may still matter, the highest prepared
certificate for the next height (with its block, to re-propose it), the proposal accepted in
the current round (with its block, to commit it after a restart) and the NEW-VIEW that opened
the current view. Changes are collected as dirty records and handed to the shell as one
Persist action, which the core always emits before any Send that relies on it.

The prepared block is usually the accepted one: the prepared record then stores None for the
body and points at the accepted record, so a block is written once, not twice, per round.

Records are key/value pairs under the WAL's prefix (see chainnode.store.wal):

  b"meta"                         [view, waiting_new_view, new_view_base, new_view_choice,
                                   top_view]
  b"vote/" + [kind, view, height] the signed message, exactly as sent
  b"prepared"                     [prepared certificate, block or None]
  b"accepted"                     the accepted PRE-PREPARE
  b"new-view"                     the NEW-VIEW of the current view
  b"floor"                        [view, height]: PRE-PREPARE/PREPARE/COMMIT records pruned
                                  with their view while their height was not yet final
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from chainnode import codec
from chainnode.consensus.actions import Persist
from chainnode.consensus.messages import (
    Commit,
    Message,
    NewView,
    PreparedCertificate,
    PrePrepare,
    ViewChange,
    decode_message,
    encode_message,
    with_signature,
)
from chainnode.consensus.verify import Sign

META = b"meta"
VOTE = b"vote/"
PREPARED = b"prepared"
ACCEPTED = b"accepted"
NEW_VIEW = b"new-view"
FLOOR = b"floor"

VoteSlot = tuple[str, int, int]  # (kind, view, height); height 0 for view-change/new-view
PER_HEIGHT_KINDS = ("pre-prepare", "prepare", "commit")


def vote_slot(msg: Message) -> VoteSlot:
    if isinstance(msg, (ViewChange, NewView)):
        return (msg.KIND, msg.view, 0)
    return (msg.KIND, msg.view, msg.height)


def _unsigned(msg: Message) -> Message:
    """The statement a message makes. A COMMIT's time is not part of it: asked to commit
    the same block again, a node re-sends its first COMMIT (first time) byte for byte."""
    msg = replace(msg, signature=b"")
    if isinstance(msg, Commit):
        return replace(msg, time_ms=0)
    return msg.stripped() if isinstance(msg, ViewChange) else msg


class PersistedState:
    """The core's durable state; mutate through the methods so changes reach the WAL."""

    def __init__(self) -> None:
        self.view = 0
        self.waiting_new_view = False
        self.new_view_base: int | None = None  # committed height the NEW-VIEW built on
        self.new_view_choice: bytes | None = None  # block it had to re-propose, if any
        # Highest view we ever signed a VIEW-CHANGE for. It is signed once per view; records
        # are pruned when views grow, and a node may return to a lower view, so at or below
        # this view only a still-stored record may be re-sent. (A NEW-VIEW needs no floor of
        # its own: its record lives and is pruned with the VIEW-CHANGE of the same view.)
        self.top_view = 0
        self.votes: dict[VoteSlot, Message] = {}
        # Per-height votes are pruned when we leave their view, but after a return to a
        # lower view we may be asked to vote at the height we left at (the COMMIT after our
        # shell committed the block, a help vote for a re-proposed head), whose record is
        # gone. Every pruned slot lies at or below (floor_view, floor_height): no vote is
        # signed there unless its record is still stored. Cleared once that height is final.
        self.floor_view = -1
        self.floor_height = -1
        self.prepared: PreparedCertificate | None = None
        self.prepared_block: bytes | None = None
        self._prepared_by_ref = False  # the prepared record relies on the accepted record
        self.accepted: PrePrepare | None = None
        self.new_view: NewView | None = None
        self._puts: dict[bytes, bytes] = {}
        self._deletes: set[bytes] = set()

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, records: Mapping[bytes, bytes]) -> PersistedState:
        """Rebuild from WAL records; ValueError if any record is corrupt (never guess)."""
        st = cls()
        for key, value in records.items():
            if key == META:
                w = codec.decode(value)
                if not (isinstance(w, list) and len(w) == 5 and type(w[0]) is int
                        and type(w[1]) is bool and (w[2] is None or type(w[2]) is int)
                        and (w[3] is None or type(w[3]) is bytes) and type(w[4]) is int):
                    raise ValueError("corrupt consensus meta record")
                (st.view, st.waiting_new_view, st.new_view_base, st.new_view_choice,
                 st.top_view) = w
            elif key.startswith(VOTE):
                msg = decode_message(value)
                if key != _vote_key(vote_slot(msg)):
                    raise ValueError("vote record stored under the wrong key")
                st.votes[vote_slot(msg)] = msg
            elif key == PREPARED:
                w = codec.decode(value)
                if not (isinstance(w, list) and len(w) == 2
                        and (w[1] is None or type(w[1]) is bytes)):
                    raise ValueError("corrupt prepared record")
                st.prepared = PreparedCertificate.from_wire(w[0])
                st.prepared_block = w[1]
                st._prepared_by_ref = w[1] is None
            elif key == ACCEPTED:
                msg = decode_message(value)
                if not isinstance(msg, PrePrepare):
                    raise ValueError("accepted record is not a pre-prepare")
                st.accepted = msg
            elif key == NEW_VIEW:
                msg = decode_message(value)
                if not isinstance(msg, NewView):
                    raise ValueError("new-view record is not a new-view")
                st.new_view = msg
            elif key == FLOOR:
                w = codec.decode(value)
                if not (isinstance(w, list) and len(w) == 2
                        and all(type(x) is int and x >= 0 for x in w)):
                    raise ValueError("corrupt vote floor record")
                st.floor_view, st.floor_height = w
            else:
                raise ValueError(f"unknown consensus WAL record {key!r}")
        if st._prepared_by_ref:
            acc = st.accepted
            if acc is None or acc.block_hash != st.prepared.block_hash:
                raise ValueError("prepared record points at a missing accepted block")
            st.prepared_block = acc.block
        return st

    # -- mutation --------------------------------------------------------------------------

    def set_view(self, view: int, waiting: bool, base: int | None = None,
                 choice: bytes | None = None) -> None:
        if view < self.view:
            raise ValueError("views never go back")
        self.view, self.waiting_new_view = view, waiting
        self.new_view_base, self.new_view_choice = base, choice
        self._put_meta()

    def return_to_view(self, view: int) -> None:
        """Go back to a lower view the network is proven to commit in (certified evidence,
        see ConsensusCore._should_return). Votes of higher views are kept."""
        if view > self.view:
            raise ValueError("return_to_view only goes down")
        self.view, self.waiting_new_view = view, False
        self.new_view_base, self.new_view_choice = None, None
        self._put_meta()

    def _put_meta(self) -> None:
        self._put(META, codec.encode([self.view, self.waiting_new_view, self.new_view_base,
                                      self.new_view_choice, self.top_view]))

    def may_sign_view_change(self, view: int) -> bool:
        """Whether a VIEW-CHANGE for `view` may be signed or re-sent: above every view we
        signed one for, or while the record we signed for it is still here."""
        return view > self.top_view or ("view-change", view, 0) in self.votes

    def set_prepared(self, cert: PreparedCertificate | None, block: bytes | None) -> None:
        self.prepared, self.prepared_block = cert, block
        acc = self.accepted
        self._prepared_by_ref = (cert is not None and acc is not None
                                 and acc.block_hash == cert.block_hash and acc.block == block)
        if cert is None:
            self._delete(PREPARED)
        else:
            self._put(PREPARED, codec.encode([cert.to_wire(),
                                              None if self._prepared_by_ref else block]))

    def set_accepted(self, pp: PrePrepare | None) -> None:
        if pp == self.accepted:
            return
        if self._prepared_by_ref and self.prepared is not None:
            # the body the prepared record points at is going: store it there instead
            self._prepared_by_ref = False
            self._put(PREPARED, codec.encode([self.prepared.to_wire(), self.prepared_block]))
        self.accepted = pp
        if pp is None:
            self._delete(ACCEPTED)
        else:
            self._put(ACCEPTED, encode_message(pp))

    def set_new_view(self, nv: NewView | None) -> None:
        self.new_view = nv
        if nv is None:
            self._delete(NEW_VIEW)
        else:
            self._put(NEW_VIEW, encode_message(nv))

    def sign_once(self, msg: Message, sign: Sign, chain_id: str) -> Message | None:
        """Sign `msg` unless this node already signed its (kind, view, height).

        Returns the stored message if it says the same thing (so a resend is byte-identical),
        the newly signed one otherwise, or None if we signed something different there: an
        honest node never does, even after a restart, so the caller must not send anything.
        """
        slot = vote_slot(msg)
        old = self.votes.get(slot)
        per_view = isinstance(msg, ViewChange)
        if old is None and per_view and msg.view <= self.top_view:
            return None  # we may have signed this view's message and pruned its record
        if (old is None and not per_view and not isinstance(msg, NewView)
                and msg.view <= self.floor_view and msg.height <= self.floor_height):
            return None  # a per-height record we may have pruned with its view
        if old is not None:
            if _unsigned(old) != _unsigned(msg):
                return None
            if isinstance(msg, ViewChange) and msg.prepared_block != old.prepared_block:
                return replace(old, prepared_block=msg.prepared_block)
            return old
        signed = with_signature(msg, sign(msg.DOMAIN, msg.signing_payload(chain_id)))
        self.votes[slot] = signed
        if per_view and msg.view > self.top_view:
            self.top_view = msg.view
            self._put_meta()  # in the same Persist as the message itself
        self._put(_vote_key(slot), encode_message(signed))
        return signed

    def resign_view_change(self, msg: ViewChange, sign: Sign, chain_id: str) -> ViewChange:
        """Sign `msg` in place of our VIEW-CHANGE for its view that names another index.

        Only after a validator-set change moved our index: the old one is a message of
        another set (under the new set its index is another member's, or nobody's), so a
        NEW-VIEW of the new set can count at most this one; one per view and set."""
        old = self.votes.get(vote_slot(msg))
        if old is None or old.sender == msg.sender:
            raise ValueError("resign only replaces a VIEW-CHANGE of another index")
        signed = with_signature(msg, sign(msg.DOMAIN, msg.signing_payload(chain_id)))
        self.votes[vote_slot(msg)] = signed
        self._put(_vote_key(vote_slot(msg)), encode_message(signed))
        return signed

    def prune_votes(self, min_height: int, min_view: int) -> None:
        """Drop own votes that can never be asked for again: views only grow, and heights
        below the committed one are final."""
        floor = (self.floor_view, self.floor_height)
        for slot in list(self.votes):
            kind, view, height = slot
            final = kind in PER_HEIGHT_KINDS and height < min_height
            if view < min_view or final:
                del self.votes[slot]
                self._delete(_vote_key(slot))
                if kind in PER_HEIGHT_KINDS and not final:
                    self.floor_view = max(self.floor_view, view)
                    self.floor_height = max(self.floor_height, height)
        if 0 <= self.floor_height < min_height:
            self.floor_view = self.floor_height = -1  # that height is final: no vote there
        if (self.floor_view, self.floor_height) != floor:
            if self.floor_height < 0:
                self._delete(FLOOR)
            else:
                self._put(FLOOR, codec.encode([self.floor_view, self.floor_height]))

    def take_persist(self) -> Persist | None:
        """The pending changes as one Persist action (None if nothing changed)."""
        if not self._puts and not self._deletes:
            return None
        act = Persist(tuple(sorted(self._puts.items())), tuple(sorted(self._deletes)))
        self._puts.clear()
        self._deletes.clear()
        return act

    def _put(self, key: bytes, value: bytes) -> None:
        self._deletes.discard(key)
        self._puts[key] = value

    def _delete(self, key: bytes) -> None:
        self._puts.pop(key, None)
        self._deletes.add(key)


def _vote_key(slot: VoteSlot) -> bytes:
    return VOTE + codec.encode(list(slot))
