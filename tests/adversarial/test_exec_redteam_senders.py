"""Red team: a member's record changes mid-block; later txs of the same block by that member.

The executor remembers each sender's address and decoded member record across txs and blocks
(chainnode.exec.senders), and hands the shared record to sys.members as `sender_rec`. An admin
promoted, demoted or revoked earlier in a block must be judged on its NEW record by the txs
after it, by the leader and by every follower alike (whatever their caches hold), exactly as
an executor without any cache judges it; and the shared decoded records are never mutated.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from chain_redteam_util import benches, replay  # noqa: E402
from gov_util import ADDR, GOVS, MEMBER, OUTSIDER, Bench  # noqa: E402

from chainnode import codec  # noqa: E402
from chainnode.crypto.address import address_of  # noqa: E402
from chainnode.exec import system  # noqa: E402

MEMBERS = "sys.members"


class _NoCache:
    """The executor's sender facts computed afresh every time: the reference semantics."""

    def address(self, public_key: bytes) -> str:
        return address_of(public_key)

    def member(self, state, address: str):
        return system.member(state, address)


def _addr(i: int) -> str:
    return f"{0xabc000 + i:040x}"


def _block_txs(b: Bench) -> list:
    def tx(key, method, args):
        return b.tx(key, method, args, contract=MEMBERS)
    out = ADDR[OUTSIDER]
    return [
        tx(GOVS[0], "register", {"address": out, "roles": ["admin"]}),     # 0 ok
        tx(OUTSIDER, "register", {"address": _addr(1), "roles": ["member"]}),  # 1 ok: new admin
        tx(GOVS[0], "set_roles", {"address": out, "roles": ["member"]}),   # 2 ok: demoted
        tx(OUTSIDER, "register", {"address": _addr(2), "roles": ["member"]}),  # 3 denied
        tx(GOVS[1], "set_roles", {"address": out, "roles": ["admin"]}),    # 4 ok: promoted
        tx(OUTSIDER, "register", {"address": _addr(3), "roles": ["member"]}),  # 5 ok
        tx(GOVS[0], "revoke", {"address": out}),                           # 6 ok
        tx(OUTSIDER, "register", {"address": _addr(4), "roles": ["member"]}),  # 7 not member
        tx(MEMBER, "register", {"address": _addr(5), "roles": ["member"]}),    # 8 denied
        tx(GOVS[2], "set_roles", {"address": ADDR[MEMBER], "roles": ["admin"]}),  # 9 ok
        tx(MEMBER, "register", {"address": _addr(6), "roles": ["member"]}),    # 10 ok
    ]


EXPECTED = ["", "", "", "PERMISSION_DENIED", "", "", "", "TX_NOT_MEMBER",
            "PERMISSION_DENIED", "", ""]


def _replay(b: Bench, src: Bench, height: int) -> list[str]:
    """chain_redteam_util.replay; the replayed receipts' error codes."""
    return [rc.error_code for rc in replay(b, src, height).outcome.receipts]


def test_mid_block_record_changes_judge_later_txs_alike_on_every_node(tmp_path):
    with benches(tmp_path, "leader", "follower", "plain") as (leader, follower, plain):
        plain.chain.executor.senders = _NoCache()
        # block 1: the leader's and the plain node's caches learn the senders' records
        leader.block(leader.tx(GOVS[0], "register", {"address": _addr(9), "roles": ["member"]},
                               contract=MEMBERS),
                     leader.tx(MEMBER, "register", {"address": _addr(8), "roles": ["member"]},
                               contract=MEMBERS))
        _replay(plain, leader, 1)
        # the follower commits block 1 from the store, cold cache for block 2
        _replay(follower, leader, 1)
        follower.chain.executor.senders = type(leader.chain.executor.senders)()
        ex = leader.block(*_block_txs(leader))
        assert [rc.error_code for rc in ex.outcome.receipts] == EXPECTED
        assert _replay(follower, leader, 2) == EXPECTED
        assert _replay(plain, leader, 2) == EXPECTED
        for b in (leader, follower, plain):
            assert b.chain.head.block_hash == ex.block.hash
            assert b.stored(MEMBERS, ADDR[OUTSIDER])["active"] is False
            assert b.stored(MEMBERS, ADDR[MEMBER])["roles"] == ["admin"]
        # the records the caches shared between txs are exactly what their bytes decode to
        for b in (leader, follower):
            shared = b.chain.executor.senders._records._d
            assert shared and all(codec.decode(raw) == rec for raw, rec in shared.items())
