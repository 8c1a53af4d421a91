"""Testnet CA, node certificates and the mutual TLS 1.3 contexts built from them."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import logging
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chainnode.crypto.sm2 import PrivateKey
from chainnode.net.peers import PeerManager
from chainnode.net.tls import (
    TLSMaterialError,
    cert_fingerprint,
    client_context,
    clock_skew,
    create_ca,
    describe_error,
    issue_cert,
    load_node_tls,
    server_context,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, ca_key = create_ca(d)
    a = issue_cert(ca, ca_key, "node0", d)
    b = issue_cert(ca, ca_key, "node1", d)
    other_dir = tmp_path_factory.mktemp("other")
    oca, oca_key = create_ca(other_dir)
    stranger = issue_cert(oca, oca_key, "stranger", other_dir)
    return {"ca": ca, "ca_key": ca_key, "a": a, "b": b, "oca": oca, "stranger": stranger}


def test_certificate_contents(pki):
    cert = x509.load_pem_x509_certificate(pki["a"][0].read_bytes())
    ca = x509.load_pem_x509_certificate(pki["ca"].read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "node0"
    assert cert.issuer == ca.subject
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)


def test_private_keys_are_owner_only(pki):
    for path in (pki["ca_key"], pki["a"][1]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_bad_node_name_rejected(pki, tmp_path):
    with pytest.raises(TLSMaterialError):
        issue_cert(pki["ca"], pki["ca_key"], "../evil", tmp_path)


def test_contexts_require_tls13_and_client_certs(pki):
    s = server_context(pki["ca"], *pki["a"])
    c = client_context(pki["ca"], *pki["b"])
    for ctx in (s, c):
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.verify_mode == ssl.CERT_REQUIRED


def test_fingerprint_is_sha256_of_der(pki):
    import hashlib

    cert = x509.load_pem_x509_certificate(pki["a"][0].read_bytes())
    from cryptography.hazmat.primitives.serialization import Encoding

    der = cert.public_bytes(Encoding.DER)
    assert cert_fingerprint(pki["a"][0]) == hashlib.sha256(der).digest()
    assert cert_fingerprint(der) == cert_fingerprint(pki["a"][0].read_bytes())
    assert load_node_tls(pki["ca"], *pki["a"]).fingerprint == hashlib.sha256(der).digest()


async def _try_connect(server_ctx, client_ctx):
    """Returns (client ok, server saw a peer cert) for one TLS connection on loopback."""
    seen: list[bytes | None] = []
    done = asyncio.Event()

    async def handle(reader, writer):
        seen.append(writer.get_extra_info("ssl_object").getpeercert(binary_form=True))
        writer.close()
        done.set()

    server = await asyncio.start_server(
        handle, "127.0.0.1", 0, ssl=server_ctx, ssl_handshake_timeout=5
    )
    port = server.sockets[0].getsockname()[1]
    try:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=client_ctx, server_hostname="x"),
                5,
            )
        except (ssl.SSLError, ConnectionError):
            return False, seen
        await asyncio.wait_for(done.wait(), 5)
        writer.close()
        return True, seen
    finally:
        server.close()
        await server.wait_closed()


async def test_mutual_tls_between_testnet_nodes(pki):
    ok, seen = await _try_connect(
        server_context(pki["ca"], *pki["a"]), client_context(pki["ca"], *pki["b"])
    )
    assert ok and seen and cert_fingerprint(seen[0]) == cert_fingerprint(pki["b"][0])


async def test_client_from_another_ca_is_refused(pki):
    ok, seen = await _try_connect(
        server_context(pki["ca"], *pki["a"]), client_context(pki["oca"], *pki["stranger"])
    )
    assert not ok and not seen


async def test_client_without_certificate_is_refused(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=str(pki["ca"]))
    ctx.check_hostname = False
    server_ctx = server_context(pki["ca"], *pki["a"])
    seen: list = []

    async def handle(reader, writer):
        seen.append(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        # TLS 1.3: the client learns of the refusal on its first read
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx), 5
        )
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert not seen


# ---------------------------------------------------------------------------- clock skew


def test_certificates_are_valid_from_well_before_issue(pki):
    """A node whose clock is a day behind the machine that issued the certificates still
    finds them valid."""
    now = dt.datetime.now(dt.UTC)
    for path in (pki["ca"], pki["a"][0]):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        assert cert.not_valid_before_utc <= now - dt.timedelta(days=1)


async def _handshake_error(server_ctx, client_ctx) -> BaseException | None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                        ssl=server_ctx, ssl_handshake_timeout=5)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=client_ctx), 5)
        writer.close()
        return None
    except ssl.SSLError as exc:
        return exc
    finally:
        server.close()
        await server.wait_closed()


async def test_not_yet_valid_peer_certificate_names_the_clock(pki, tmp_path, caplog):
    """The peer's certificate starts tomorrow (as it looks from a machine whose clock is
    behind): the handshake fails, and the log says to check the clock."""
    future = issue_cert(pki["ca"], pki["ca_key"], "future", tmp_path,
                        valid_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    exc = await _handshake_error(server_context(pki["ca"], *future),
                                 client_context(pki["ca"], *pki["b"]))
    assert isinstance(exc, ssl.SSLCertVerificationError)
    assert clock_skew(exc) == "peer certificate not yet valid: check this machine's clock"
    text = describe_error(exc)
    assert text.startswith("TLS: peer certificate not yet valid: check this machine's clock")
    # an ordinary verification failure (another CA) is not blamed on the clock
    other = await _handshake_error(server_context(pki["ca"], *pki["a"]),
                                   client_context(pki["oca"], *pki["stranger"]))
    assert isinstance(other, ssl.SSLError) and clock_skew(other) is None
    assert "clock" not in describe_error(other)


async def test_peer_manager_logs_the_clock_hint(pki, tmp_path, caplog):
    """The dialling node's log carries the hint, at WARNING, for a peer whose certificate is
    not yet valid."""
    future = issue_cert(pki["ca"], pki["ca_key"], "future2", tmp_path,
                        valid_from=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                        ssl=server_context(pki["ca"], *future),
                                        ssl_handshake_timeout=5)
    port = server.sockets[0].getsockname()[1]
    pm = PeerManager("tls-test", b"\x01" * 32, PrivateKey.generate(), None, None, [],
                     load_node_tls(pki["ca"], *pki["b"]), lambda pub: "validator",
                     lambda *a: None, message_types=("m",))
    try:
        with caplog.at_level(logging.INFO, logger="chainnode.net"):
            assert await pm._dial(("127.0.0.1", port), quiet=True) is None
    finally:
        server.close()
        await server.wait_closed()
    hits = [r for r in caplog.records
            if "peer certificate not yet valid: check this machine's clock" in r.getMessage()]
    assert hits and all(r.levelno == logging.WARNING for r in hits)
