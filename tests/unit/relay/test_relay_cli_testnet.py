"""`chainnode relay` options and `testnet init --sidechains` layout (no processes)."""

from __future__ import annotations

import json

import pytest

from chainnode import testnet, testnet_sides
from chainnode.cli import build_parser, main
from chainnode.cli_relay import _channels
from chainnode.core.genesis import Genesis
from chainnode.relay.metrics import Metrics
from chainnode.relay.planner import Direction


def _relay_parser():
    sub = next(a for a in build_parser()._actions if a.dest == "cmd")
    return sub.choices["relay"]


def test_every_relay_option_has_help_text():
    opts = [a for a in _relay_parser()._actions if a.option_strings and a.dest != "help"]
    assert {a.dest for a in opts} >= {"a", "b", "key", "channels", "batch", "metrics_port"}
    assert all(a.help for a in opts), [a.dest for a in opts if not a.help]


def test_channels_parse_and_refuse_with_a_code():
    assert _channels(None) is None
    assert _channels("main:edge-1, edge-1:main") == (("main", "edge-1"), ("edge-1", "main"))
    with pytest.raises(ValueError, match="RELAY_BAD_CHANNEL"):
        _channels("main-edge")


def test_sidechains_init_makes_own_chains_relayers_and_ports(tmp_path, capsys):
    assert main(["testnet", "init", "--dir", str(tmp_path), "--nodes", "4", "--sidechains", "3",
                 "--base-port", "30000"]) == 0
    doc = json.loads((tmp_path / testnet_sides.MANIFEST).read_text())
    ids = [c["chain_id"] for c in doc["chains"]]
    assert ids == ["chainnode-main", "district-1", "district-2", "district-3"]
    gens = [Genesis.load(tmp_path / c["dir"] / "genesis.json") for c in doc["chains"]]
    assert [len(g.validators) for g in gens] == [4, 1, 1, 1]
    assert len({g.hash() for g in gens}) == 4
    ports = [n["rpc"] for c in doc["chains"] for n in testnet.manifest(tmp_path / c["dir"])["nodes"]]
    assert len(set(ports)) == 7
    assert [(r["a"], r["b"]) for r in doc["relayers"]] == [("main", f"edge-{i}")
                                                          for i in (1, 2, 3)]
    assert all((tmp_path / r["dir"] / "relayer.key").exists() for r in doc["relayers"])
    cmd = testnet_sides.relayer_cmd(tmp_path, doc["relayers"][0])
    assert cmd[cmd.index("--a") + 1].count(",") == 3  # every main validator's URL
    assert "district-1" in capsys.readouterr().out
    with pytest.raises(FileExistsError):
        testnet_sides.init(tmp_path, 4, 3)


def test_metrics_render_lag_pending_and_status():
    m = Metrics()
    m.directions = (Direction("main", "edge", 3, 1.5, 2, 1, "active", 42),)
    m.count("recv_effect", 2)
    text = m.prometheus()
    assert 'relay_lag_blocks{src="main",dst="edge"} 3' in text
    assert 'relay_client_active{src="main",dst="edge"} 1' in text
    assert 'relay_events_total{event="recv_effect"} 2' in text
    assert m.snapshot()["packets_pending"] == 3
