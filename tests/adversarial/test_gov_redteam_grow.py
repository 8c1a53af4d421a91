"""Red team, governance: a removed validator's late COMMITs must not grow a certificate of a
height after its removal (GrowCertificate is stored without another check), while late
COMMITs of the members of THAT height still do, including the removed one's for a height it
was a member of (no finding: a regression guard on ConsensusCore._late_commit)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "consensus"))
from cons_util import of  # noqa: E402
from test_consensus_epochs import ADD4, DROP0, G, _round, core, signed  # noqa: E402

from chainnode.consensus import BlockCommitted, CommitBlock, MessageReceived  # noqa: E402
from chainnode.consensus.actions import GrowCertificate  # noqa: E402
from chainnode.consensus.messages import Commit  # noqa: E402


def late(co, height: int, bh: bytes, index: int, member: int) -> list:
    return of(co.handle(MessageReceived(signed(Commit(0, height, bh, index, time_ms=0),
                                               member))), GrowCertificate)


def test_removed_validators_late_commit_grows_only_certificates_of_its_own_heights():
    co = core(2, [G, ADD4, DROP0], height=4)  # height 5 is DROP0's: member 0 is gone
    bh, _ = _round(co, DROP0, 5)
    co.handle(MessageReceived(signed(Commit(0, 5, bh, 3, time_ms=0), 4)))
    done = of(co.handle(MessageReceived(signed(Commit(0, 5, bh, 2, time_ms=0), 3))),
              CommitBlock)
    assert done and done[0].certificate.signers == (1, 2, 3)
    co.handle(BlockCommitted(5, bh))
    assert co.height == 6
    # member 0 signs for height 5 under its old index 0 (now member 1's) or any other: refused
    for idx in (0, 4, 5):
        assert late(co, 5, bh, idx, 0) == []
    # member 1's genuine late COMMIT for 5 grows the certificate
    grown = late(co, 5, bh, 0, 1)
    assert grown and grown[0].certificate.signers == (0, 1, 2, 3)
    # for height 4 (ADD4: members 0..4) member 4's late COMMIT grows that one's certificate
    c4 = co._recent_certs[4]
    missing = [i for i in range(ADD4.n) if i not in c4.signers]
    assert missing
    grown4 = late(co, 4, c4.block_hash, missing[0], ADD4.validators[missing[0]])
    assert grown4 and missing[0] in grown4[0].certificate.signers
