"""`chainnode cert issue` and `chainnode node init`: files, output, one-line errors, help."""

from __future__ import annotations

import json

import pytest
from cryptography import x509

from chainnode import cli, testnet
from chainnode.config import NodeConfig
from chainnode.core.genesis import Genesis
from chainnode.crypto.address import address_of
from chainnode.crypto.keyfile import load_private_key
from chainnode.net import tls


@pytest.fixture(scope="module")
def tn(tmp_path_factory):
    root = tmp_path_factory.mktemp("tn") / "tn"
    testnet.init(root, 1, base_port=27900)
    return root


def run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_node_init_writes_a_bootable_home(tn, tmp_path, capsys):
    home = tmp_path / "edge5"
    rc, out, _ = run(capsys, "node", "init", "--dir", str(home), "--genesis",
                     str(tn / "genesis.json"), "--ca", str(tn / "ca"), "--name", "edge5",
                     "--p2p", "127.0.0.1:27910", "--rpc", "127.0.0.1:27911",
                     "--peers", "127.0.0.1:27900", "10.0.0.2:26656")
    assert rc == 0
    doc = json.loads(out)
    key = load_private_key(home / "node.key")
    assert doc["address"] == address_of(key.public_key)
    assert doc["public_key"] == key.public_key.hex()
    cfg = NodeConfig.load(home)
    assert (cfg.name, cfg.p2p_port, cfg.rpc_port, cfg.role) == ("edge5", 27910, 27911,
                                                               "observer")
    assert cfg.peers == ["127.0.0.1:27900", "10.0.0.2:26656"]
    assert Genesis.load(home / "genesis.json").hash() == Genesis.load(tn / "genesis.json").hash()
    assert not (home / "ca.key").exists()  # only the CA certificate travels with the home
    # the certificate chains to the network CA and loads as a TLS identity
    node_tls = tls.load_node_tls(cfg.path(cfg.tls_ca), cfg.path(cfg.tls_cert),
                                 cfg.path(cfg.tls_key))
    assert node_tls.fingerprint == tls.cert_fingerprint(home / "edge5.crt")
    cert = x509.load_pem_x509_certificate((home / "edge5.crt").read_bytes())
    ca = x509.load_pem_x509_certificate((tn / "ca" / "ca.crt").read_bytes())
    assert cert.issuer == ca.subject


@pytest.mark.parametrize("change,message", [
    ({"--genesis": "missing.json"}, "genesis"),
    ({"--ca": "no-ca"}, "CA directory"),
    ({"--name": "bad name"}, "node name"),
    ({"--p2p": "localhost"}, "--p2p must be HOST:PORT"),
    ({"--rpc": "127.0.0.1:99999"}, "--rpc must be HOST:PORT"),
])
def test_node_init_errors_are_one_line_and_leave_nothing(tn, tmp_path, capsys, change,
                                                         message):
    args = {"--dir": str(tmp_path / "n"), "--genesis": str(tn / "genesis.json"),
            "--ca": str(tn / "ca"), "--name": "n1"}
    args.update({k: (str(tmp_path / v) if k in ("--genesis", "--ca") else v)
                 for k, v in change.items()})
    rc, out, err = run(capsys, "node", "init", *[x for kv in args.items() for x in kv])
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "n").exists()


def test_node_init_refuses_an_existing_home(tn, tmp_path, capsys):
    home = tmp_path / "used"
    home.mkdir()
    (home / "node.json").write_text("{}")
    rc, _, err = run(capsys, "node", "init", "--dir", str(home), "--genesis",
                     str(tn / "genesis.json"), "--ca", str(tn / "ca"), "--name", "x")
    assert rc == 1 and "exists and is not empty" in err
    assert (home / "node.json").read_text() == "{}"


def test_ca_without_key_is_refused(tn, tmp_path, capsys):
    ca = tmp_path / "ca"
    ca.mkdir()
    (ca / "ca.crt").write_bytes((tn / "ca" / "ca.crt").read_bytes())
    rc, _, err = run(capsys, "cert", "issue", "--ca", str(ca), "--name", "x", "--out",
                     str(tmp_path / "o"))
    assert rc == 1 and "lacks ca.key" in err


def test_cert_issue_with_sans(tn, tmp_path, capsys):
    rc, out, _ = run(capsys, "cert", "issue", "--ca", str(tn / "ca"), "--name", "edge7",
                     "--out", str(tmp_path / "o"), "--san", "10.1.2.3", "edge7.grid.local")
    assert rc == 0
    doc = json.loads(out)
    cert = x509.load_pem_x509_certificate(open(doc["cert"], "rb").read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert san.get_values_for_type(x509.DNSName) == ["edge7.grid.local"]
    # issuing the same name into the same place again is refused, not overwritten
    rc, _, err = run(capsys, "cert", "issue", "--ca", str(tn / "ca"), "--name", "edge7",
                     "--out", str(tmp_path / "o"))
    assert rc == 1 and "exists" in err


def test_every_new_option_has_help():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd").choices
    def actions(p):
        return next(a for a in p._actions if a.dest.endswith("_cmd")).choices

    cases = [actions(sub["cert"])["issue"],
             *(actions(sub["node"])[c] for c in ("init", "ready"))]
    for p in cases:
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"{p.prog} {action.option_strings} has no help"
    t = sub["testnet"]
    for opt in ("--name", "--validator", "--force", "--stop"):
        assert next(a for a in t._actions if opt in a.option_strings).help
