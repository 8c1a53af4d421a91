"""The example genesis files in genesis/: they load, say what genesis/README.md says, are
exactly what scripts/example_genesis.py makes (so they follow the format as it evolves), and a
node really runs on one: the district edge chain commits a transaction signed by its example
operator."""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
from pathlib import Path

import pytest

from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.sm2 import PrivateKey

ROOT = Path(__file__).resolve().parents[2]
GENESIS_DIR = ROOT / "genesis"


def _script():
    spec = importlib.util.spec_from_file_location("example_genesis",
                                                  ROOT / "scripts" / "example_genesis.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


EX = _script()


def test_the_files_are_the_generators_output_byte_for_byte(tmp_path):
    names = sorted(p.name for p in GENESIS_DIR.glob("*.json"))
    assert names == sorted(EX.EXAMPLES)
    for name, make in EX.EXAMPLES.items():
        make().save(tmp_path / name)
        assert (tmp_path / name).read_bytes() == (GENESIS_DIR / name).read_bytes(), (
            f"genesis/{name} is stale: run scripts/example_genesis.py")


def test_main_chain_has_four_validators_a_committee_and_a_relayer():
    g = Genesis.load(GENESIS_DIR / "main-4-validators.json")
    assert g.chain_id == EX.MAIN_CHAIN_ID and len(g.validators) == 4  # tolerates f = 1
    assert len({v.public_key for v in g.validators}) == 4
    roles = {m.name: set(m.roles) for m in g.members}
    assert {"admin", "operator"} <= roles["grid-admin"]
    assert "relayer" in roles["district-relayer"] and "auditor" in roles["grid-auditor"]
    members = {m.address for m in g.members}
    assert {a for a, _ in g.governance["governors"]} <= members
    assert g.param("view_timeout_ms") == 3000
    # the validators' example keys are the seeded ones the README describes
    for v in g.validators:
        assert EX.example_key(v.name).public_key.raw == v.public_key


def test_district_edge_chain_has_one_validator_terminals_and_the_same_relayer():
    edge = Genesis.load(GENESIS_DIR / "district-edge-1-validator.json")
    main = Genesis.load(GENESIS_DIR / "main-4-validators.json")
    assert edge.chain_id == EX.EDGE_CHAIN_ID != main.chain_id
    assert len(edge.validators) == 1 and edge.hash() != main.hash()
    roles = {m.name: set(m.roles) for m in edge.members}
    assert sum("terminal" in r for r in roles.values()) == 2
    relayer = {m.address for m in edge.members if "relayer" in m.roles}
    assert relayer and relayer == {m.address for m in main.members if "relayer" in m.roles}


def test_readme_names_every_file_and_warns_about_the_keys():
    text = (GENESIS_DIR / "README.md").read_text()
    for name in EX.EXAMPLES:
        assert name in text
    assert "must be replaced" in text and "example" in text.lower()


@pytest.mark.asyncio
async def test_a_node_runs_on_the_edge_genesis_and_commits(tmp_path):
    from chainnode.node import Node

    home = tmp_path / "edge"
    home.mkdir()
    shutil.copy(GENESIS_DIR / "district-edge-1-validator.json", home / "genesis.json")
    cfg = NodeConfig(name="edge-0101", chain_id=EX.EDGE_CHAIN_ID, rpc_port=0, home=home)
    node = Node(cfg, key=EX.example_key("edge-0101"))
    await node.start()
    try:
        from chainnode.core.tx import build_tx

        operator = EX.example_key("edge-0101-operator")
        newcomer = address_of(PrivateKey.generate().public_key)
        tx = build_tx(operator, EX.EDGE_CHAIN_ID, "system", "sys.members", "register",
                      {"address": newcomer, "roles": ["terminal"], "name": "meter-3"},
                      expires_at=node.chain.head.height + 100)
        fut = node.hub.wait_for(tx.hash)
        await node.submit(tx)
        height, receipt = await asyncio.wait_for(fut, 20)
        assert receipt.ok, receipt.to_json()
        assert height == node.chain.head.height >= 1
        assert node.is_member(newcomer)
    finally:
        await node.stop()
