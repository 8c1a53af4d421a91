"""`chainnode network init`: the hosts file, and the package written for each host."""

from __future__ import annotations

import ipaddress
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from cryptography import x509

from chainnode import netpack
from chainnode.cli import build_parser, main
from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.keyfile import load_private_key
from chainnode.hostsfile import HostEntry, HostsFileError, check_listen, parse_hosts, plan

HOSTS = """\
# two nodes on the first machine
10.0.0.11:2      # rack A

[2001:DB8:0::5]:1
Node3.Example.NET.:1
"""


# -- the hosts file --------------------------------------------------------------------------

def test_hosts_file_lines_comments_and_normalised_addresses():
    assert parse_hosts(HOSTS) == (HostEntry("10.0.0.11", 2, 2), HostEntry("2001:db8::5", 1, 4),
                                  HostEntry("node3.example.net", 1, 5))


@pytest.mark.parametrize("text, message", [
    ("10.0.0.1\n", "line 1: expected ADDRESS:COUNT"),
    ("# c\n\n10.0.0.1:0\n", "line 3: node count of 10.0.0.1 is 0"),
    ("10.0.0.1:2\n10.0.0.2:1\n10.0.0.1:1\n", "line 3: duplicate address 10.0.0.1 (already on "
                                             "line 1)"),
    ("[2001:db8::1]:1\n[2001:DB8:0::1]:1\n", "line 2: duplicate address 2001:db8::1"),
    ("a.example:1\nA.example.:1\n", "line 2: duplicate address a.example"),
    ("10.0.0.1:x\n", "line 1: node count 'x' is not a whole number"),
    ("10.0.0.1:-1\n", "line 1: node count '-1' is not a whole number"),
    ("0.0.0.0:1\n", "line 1: 0.0.0.0 is not an address peers can dial"),
    ("[::]:1\n", "line 1: :: is not an address peers can dial"),
    ("2001:db8::1:1\n", "line 1: an IPv6 address goes in brackets"),
    ("[10.0.0.1]:1\n", "line 1: [10.0.0.1] is not an IPv6 address"),
    ("bad_host!:1\n", "line 1: 'bad_host!' is neither an IP address nor a DNS name"),
    ("10.0.0.1:1 10.0.0.2:1\n", "line 1: expected one ADDRESS:COUNT"),
    ("# nothing but comments\n\n", "no hosts"),
])
def test_bad_hosts_files_name_the_line(text, message):
    with pytest.raises(HostsFileError) as ei:
        parse_hosts(text, "hosts.txt")
    assert str(ei.value).startswith("hosts.txt")
    assert message in str(ei.value)
    assert "\n" not in str(ei.value)


def test_plan_numbers_nodes_across_hosts_with_the_same_ports_on_each():
    nodes = plan(parse_hosts(HOSTS), 30000)
    assert [(n.name, n.host, n.p2p_port, n.rpc_port) for n in nodes] == [
        ("node0", "10.0.0.11", 30000, 30001), ("node1", "10.0.0.11", 30002, 30003),
        ("node2", "2001:db8::5", 30000, 30001), ("node3", "node3.example.net", 30000, 30001)]
    with pytest.raises(HostsFileError, match="line 2: 2 nodes on 10.0.0.11 need ports "
                                             "65534-65537"):
        plan(parse_hosts(HOSTS), 65534, "hosts.txt")


@pytest.mark.parametrize("listen, message", [
    ("127.0.0.1", "loopback address: other hosts could not reach"),
    ("0.0.0.0", "--listen 0.0.0.0 is IPv4 but host 2001:db8::5 is IPv6"),
    ("any", "is not an IP address"),
])
def test_bad_listen_addresses(listen, message):
    with pytest.raises(ValueError, match=message):
        check_listen(listen, parse_hosts(HOSTS))


# -- the packages ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def network(tmp_path_factory) -> tuple[Path, tuple[netpack.Package, ...]]:
    root = tmp_path_factory.mktemp("net") / "out"
    pkgs = netpack.init(root, parse_hosts(HOSTS), "grid-east", 30000,
                        params={"view_timeout_ms": 1000}, accounts=1, tar=True,
                        install_dir="/srv/chain/")
    return root, pkgs


def _san(cert: x509.Certificate) -> list:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value


def test_each_host_gets_its_nodes_with_certificates_for_its_address(network):
    root, pkgs = network
    assert [(p.host, p.path.name, [n.name for n in p.nodes]) for p in pkgs] == [
        ("10.0.0.11", "10.0.0.11", ["node0", "node1"]),
        ("2001:db8::5", "2001_db8__5", ["node2"]),
        ("node3.example.net", "node3.example.net", ["node3"])]
    genesis = Genesis.load(root / "genesis.json")
    assert genesis.chain_id == "grid-east" and genesis.params["view_timeout_ms"] == 1000
    ca = x509.load_pem_x509_certificate((root / "ca" / "ca.crt").read_bytes())
    want_san = {"10.0.0.11": x509.IPAddress(ipaddress.ip_address("10.0.0.11")),
                "2001:db8::5": x509.IPAddress(ipaddress.ip_address("2001:db8::5")),
                "node3.example.net": x509.DNSName("node3.example.net")}
    for p in pkgs:
        assert Genesis.load(p.path / "genesis.json").hash() == genesis.hash()
        assert (p.path / "ca.crt").read_bytes() == (root / "ca" / "ca.crt").read_bytes()
        for k, n in enumerate(p.nodes):
            cfg = NodeConfig.load(p.path / n.name)
            assert genesis.validators[n.index].name == n.name
            assert load_private_key(cfg.path(cfg.key_file)).public_key.raw == \
                genesis.validators[n.index].public_key
            assert Genesis.load(cfg.path(cfg.genesis_file)).hash() == genesis.hash()
            assert (cfg.p2p_host, cfg.p2p_port) == (p.host, 30000 + 2 * k)
            assert (cfg.rpc_host, cfg.rpc_port) == (p.host, 30001 + 2 * k)
            assert cfg.peers == [m.p2p for m in plan(parse_hosts(HOSTS), 30000)
                                 if m.name != n.name]
            cert = x509.load_pem_x509_certificate(cfg.path(cfg.tls_cert).read_bytes())
            assert list(_san(cert)) == [want_san[p.host]]
            assert cert.subject.rfc4514_string() == f"CN={n.name}"
            cert.verify_directly_issued_by(ca)
            # every path in node.json stays inside the package (it is copied as a whole)
            for rel in (cfg.tls_ca, cfg.tls_cert, cfg.tls_key, cfg.key_file):
                assert cfg.path(rel).resolve().is_relative_to(p.path.resolve())
    doc = json.loads((root / "network.json").read_text())
    assert doc["genesis_hash"] == genesis.hash().hex()
    assert [n["p2p"] for n in doc["nodes"]] == ["10.0.0.11:30000", "10.0.0.11:30002",
                                                "2001:db8::5:30000", "node3.example.net:30000"]
    assert doc["nodes"][2]["rpc"] == "http://[2001:db8::5]:30001"


def test_packages_hold_nothing_private_to_the_operator_and_tarballs_keep_modes(network, tmp_path):
    root, pkgs = network
    assert (root / "admin.key").exists() and (root / "ca" / "ca.key").exists()
    assert (root / "account0.key").exists()
    for p in pkgs:
        names = {f.name for f in p.path.rglob("*")}
        assert not names & {"ca.key", "admin.key", "account0.key"}
        assert {"start.sh", "stop.sh", "chainnode@.service", "testnet.json"} <= names
        assert os.access(p.path / "start.sh", os.X_OK)
        with tarfile.open(p.tarball) as tf:
            members = tf.getmembers()
            assert all(m.name == p.path.name or m.name.startswith(p.path.name + "/")
                       for m in members)
            assert {m.name for m in members} == {
                str(f.relative_to(p.path.parent)) for f in [p.path, *p.path.rglob("*")]}
            tf.extractall(tmp_path / p.path.name, filter="data")
        out = tmp_path / p.path.name / p.path.name
        for n in p.nodes:
            assert stat.S_IMODE((out / n.name / "node.key").stat().st_mode) == 0o600
            assert stat.S_IMODE((out / n.name / f"{n.name}.key").stat().st_mode) == 0o600
            assert (out / n.name / "node.json").read_bytes() == \
                (p.path / n.name / "node.json").read_bytes()
    unit = (pkgs[0].path / "chainnode@.service").read_text()
    assert "ExecStart=/usr/local/bin/chainnode start --home /srv/chain/%i" in unit
    assert "RestartPreventExitStatus=74" in unit


def test_listen_binds_everywhere_while_peers_dial_host_addresses(tmp_path):
    hosts = parse_hosts("10.1.0.1:1\n10.1.0.2:2\n")
    pkgs = netpack.init(tmp_path / "n", hosts, listen="0.0.0.0", rpc_listen="127.0.0.1")
    cfgs = [NodeConfig.load(p.path / n.name) for p in pkgs for n in p.nodes]
    assert [(c.p2p_host, c.rpc_host) for c in cfgs] == [("0.0.0.0", "127.0.0.1")] * 3
    assert cfgs[0].peers == ["10.1.0.2:26600", "10.1.0.2:26602"]
    manifest = json.loads((pkgs[1].path / "testnet.json").read_text())
    assert [n["rpc"] for n in manifest["nodes"]] == ["http://127.0.0.1:26601",
                                                     "http://127.0.0.1:26603"]
    pkgs = netpack.init(tmp_path / "m", hosts, listen="0.0.0.0")
    manifest = json.loads((pkgs[0].path / "testnet.json").read_text())
    assert manifest["nodes"][0]["rpc"] == "http://10.1.0.1:26601"  # reachable: bound to all
    with pytest.raises(FileExistsError, match="already holds a network"):
        netpack.init(tmp_path / "m", hosts)
    with pytest.raises(ValueError, match="--chain-id 'grid east' must be"):
        netpack.init(tmp_path / "o", hosts, chain_id="grid east")
    assert not (tmp_path / "o").exists()


# -- the command ---------------------------------------------------------------------------

def test_cli_writes_the_packages_and_says_what_to_copy(tmp_path, capsys):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("10.2.0.1:1\n10.2.0.2:1\n10.2.0.3:1\n")
    assert main(["network", "init", "--hosts", str(hosts), "--dir", str(tmp_path / "net"),
                 "--listen", "0.0.0.0", "--param", "view_timeout_ms=1500"]) == 0
    out = capsys.readouterr().out
    assert "network chainnode: 3 validators on 3 hosts" in out
    assert "note: 3 validators tolerate no faulty one" in out
    assert "open 26600-26601/tcp" in out and "copy each package" in out
    assert Genesis.load(tmp_path / "net" / "genesis.json").params["view_timeout_ms"] == 1500


def test_cli_errors_are_one_line(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("10.2.0.1:1\n10.2.0.1:3\n")
    r = subprocess.run([sys.executable, "-m", "chainnode", "network", "init", "--hosts",
                        str(hosts), "--dir", str(tmp_path / "net")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr == (f"error: {hosts} line 2: duplicate address 10.2.0.1 (already on line "
                        "1); give a host's nodes as one COUNT\n")
    assert not (tmp_path / "net").exists()
    with pytest.raises(SystemExit, match="--hosts .*missing: No such file"):
        main(["network", "init", "--hosts", str(tmp_path / "missing"), "--dir", "x"])


def test_every_network_init_option_has_help():
    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["network"]
    init = next(a for a in sub._actions if a.dest == "network_cmd").choices["init"]
    opts = [a for a in init._actions if a.option_strings and a.dest != "help"]
    assert len(opts) >= 10
    assert all(a.help for a in opts), [a.dest for a in opts if not a.help]
    assert "10.0.0.11:2" in init.format_help()  # the epilog shows a hosts file


def test_the_documented_systemd_unit_is_the_one_packages_get():
    docs = Path(__file__).resolve().parents[2] / "docs"
    unit = netpack.unit_text()
    assert (docs / "chainnode@.service").read_text() == unit
    ops = (docs / "operations.md").read_text()
    shown = ops.split("```ini\n", 1)[1].split("```", 1)[0]
    assert shown == "".join(line + "\n" for line in unit.splitlines()
                            if not line.startswith("#"))
