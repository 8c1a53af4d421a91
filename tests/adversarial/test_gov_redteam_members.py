"""Red team, governance: one admin against the committee, through sys.members.

Governors vote only while they are active members, and their weight counts in the committee
total whatever their membership. sys.members lets ANY single admin revoke any other member,
governors included, with no vote. So one rogue admin (by default every admin is a governor)
could revoke the other governors in one block: they can no longer vote, their weight still
counts, participation can never be reached, and no proposal (not even a set-committee to
repair it) can ever pass again; with every other admin revoked nobody can re-register them.
Fixed: sys.members.revoke refuses a current governor (MEMBER_IS_GOVERNOR): the committee
first votes it out with set-committee, then an admin may revoke it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import ADDR, GOVS, Bench, failed, ok  # noqa: E402

MEMBERS = "sys.members"


@pytest.fixture
def bench(tmp_path):
    b = Bench(tmp_path / "db")
    yield b
    b.close()


def revoke(b: Bench, by, victim):
    return b.send(by, "revoke", {"address": ADDR[victim]}, contract=MEMBERS)


def test_one_admin_cannot_strip_the_other_governors(bench):
    rogue = GOVS[0]
    for victim in GOVS[1:]:
        failed(revoke(bench, rogue, victim), "MEMBER_IS_GOVERNOR")
    # the committee still governs: 3 of 4 pass a set-committee that drops GOVS[3]...
    keep = [[ADDR[k], 1] for k in GOVS[:3]]
    pid = ok(bench.propose(GOVS[1], "set-committee", {"governors": keep})).value["id"]
    ok(bench.vote(GOVS[2], pid))
    ok(bench.vote(GOVS[0], pid))
    assert bench.proposal(pid)["status"] == "passed"
    # ...after which an admin may revoke that former governor as before
    ok(revoke(bench, rogue, GOVS[3]))
