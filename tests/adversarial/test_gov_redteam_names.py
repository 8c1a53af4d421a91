"""Red team, governance: validator names are how remove-validator and the p2p/joined records
address a validator, but a genesis could list two validators under one name (only keys were
checked for duplicates). remove-validator then dropped BOTH while its rails counted one:
on a [x, x] genesis a plain removal emptied the set (every node's consensus would refuse an
epoch without validators: the chain dies), and on five validators it took the set to three
without `force`. Fixed: genesis refuses duplicate validator names, and remove-validator
refuses an ambiguous name (GOV_CONFLICT)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "governance"))
from gov_util import GOVS, VKEYS, Bench, failed, make_genesis  # noqa: E402

from chainnode.core.genesis import Genesis, GenesisError, Validator  # noqa: E402


def twin_genesis(n: int):
    g = make_genesis(n)
    vals = tuple(Validator("x" if i < 2 else v.name, v.public_key)
                 for i, v in enumerate(g.validators))
    return Genesis(g.chain_id, g.timestamp_ms, vals, g.members, g.params,
                   governance=g.governance)


def test_genesis_with_two_validators_of_one_name_is_refused():
    with pytest.raises(GenesisError, match="duplicate validator name"):
        Genesis.from_json(twin_genesis(2).to_json())


@pytest.mark.parametrize("n", [2, 5])
def test_removing_an_ambiguous_name_is_refused(tmp_path, n):
    b = Bench(tmp_path / "db", twin_genesis(n))
    try:
        failed(b.propose(GOVS[0], "remove-validator", {"name": "x"}), "GOV_CONFLICT")
        assert len(b.chain.validators) == n
        assert {v.public_key for v in b.chain.validators} == {
            k.public_key.raw for k in VKEYS[:n]}
    finally:
        b.close()
