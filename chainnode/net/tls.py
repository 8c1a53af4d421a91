"""Testnet TLS material and mutual-TLS contexts for node-to-node links.

Python's ssl module cannot use SM2 certificates, so the transport runs TLS 1.3 with ECDSA
P-256 certificates from a per-testnet CA. TLS keeps strangers (anyone without a certificate
from that CA) out and encrypts the link; *which validator* is on the other end is proven by
the SM2 handshake (handshake.py), which signs both certificates' fingerprints.

Hostnames are not checked by default: any certificate from the testnet CA is an acceptable
transport, and the SM2 handshake pins the identity. Certificates still carry the node's name
(CN) and its hosts (SAN) so they are usable with hostname checking and in operator tooling.

Certificates are valid from BACKDATE before they are issued, so a machine whose clock is
somewhat behind the one that ran `testnet init` can still connect; when a handshake fails
because a certificate is not yet valid (or expired) `describe_error` says to check the clock
instead of a bare CERTIFICATE_VERIFY_FAILED.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import re
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chainnode import clock

DEFAULT_HOSTS = ("127.0.0.1", "localhost")
CA_DAYS = 3650
CERT_DAYS = 825
# Valid from this long before issue: a node whose clock is behind the issuing machine's (by
# up to this much: a wrong timezone, an unsynced VM) still accepts the testnet's certificates.
BACKDATE = dt.timedelta(days=2)
# OpenSSL's X509_V_ERR_CERT_NOT_YET_VALID / X509_V_ERR_CERT_HAS_EXPIRED verify codes
X509_NOT_YET_VALID = 9
X509_EXPIRED = 10
NOT_YET_VALID_MSG = "peer certificate not yet valid: check this machine's clock"
EXPIRED_MSG = ("peer certificate expired: check this machine's clock, or renew the testnet "
               "certificates")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class TLSMaterialError(ValueError):
    pass


@dataclass(frozen=True)
class NodeTLS:
    """Everything a PeerManager needs from TLS: both contexts and its own cert fingerprint.

    The fingerprint is needed because the SM2 handshake signs it, and an SSLContext does not
    expose the certificate it was loaded with.
    """

    server: ssl.SSLContext
    client: ssl.SSLContext
    fingerprint: bytes  # SHA-256 of this node's DER certificate


def _now() -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.wall_s(), dt.UTC)


def clock_skew(exc: BaseException) -> str | None:
    """If a TLS handshake failed because a certificate's validity period does not contain
    this machine's time, the message an operator needs; else None."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == X509_NOT_YET_VALID:
            return NOT_YET_VALID_MSG
        if exc.verify_code == X509_EXPIRED:
            return EXPIRED_MSG
    return None


def describe_error(exc: ssl.SSLError) -> str:
    """A TLS failure for the log: clock skew said plainly, else OpenSSL's reason."""
    skew = clock_skew(exc)
    if skew is not None:
        return f"TLS: {skew} ({exc.verify_message})"
    return f"TLS: {exc.reason or exc}"


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def create_ca(
    out_dir: str | Path, name: str = "chainnode testnet CA", days: int = CA_DAYS
) -> tuple[Path, Path]:
    """Create a self-signed ECDSA P-256 CA as ca.crt / ca.key (0600) in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = out / "ca.crt"
    key_path = out / "ca.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return cert_path, key_path


def _load_ca(ca_cert: str | Path, ca_key: str | Path):
    try:
        cert = x509.load_pem_x509_certificate(Path(ca_cert).read_bytes())
        key = serialization.load_pem_private_key(Path(ca_key).read_bytes(), None)
    except (OSError, ValueError, TypeError) as exc:
        raise TLSMaterialError(f"cannot load CA: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TLSMaterialError("CA key is not an EC key")
    return cert, key


def _san(hosts: tuple[str, ...] | list[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_cert(
    ca_cert: str | Path,
    ca_key: str | Path,
    name: str,
    out_dir: str | Path,
    hosts: tuple[str, ...] | list[str] = DEFAULT_HOSTS,
    days: int = CERT_DAYS,
    valid_from: dt.datetime | None = None,
) -> tuple[Path, Path]:
    """Issue a node certificate (CN = name, SAN = hosts) usable as TLS server and client.

    Valid from `valid_from` (default: BACKDATE before now, never before the CA). Writes
    <name>.crt and <name>.key (0600) into out_dir.
    """
    if not _NAME_RE.match(name):
        raise TLSMaterialError(f"node name {name!r} must be 1-64 chars of [A-Za-z0-9._-]")
    if not hosts:
        raise TLSMaterialError("a certificate needs at least one host")
    ca, ca_private = _load_ca(ca_cert, ca_key)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from if valid_from is not None
                          else max(now - BACKDATE, ca.not_valid_before_utc))
        .not_valid_after(min(now + dt.timedelta(days=days), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(_san(hosts), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_private.public_key()),
            critical=False,
        )
        .sign(ca_private, hashes.SHA256())
    )
    cert_path = out / f"{name}.crt"
    key_path = out / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_private(key_path, _key_pem(key))
    return cert_path, key_path


def _base_context(purpose: int, ca: str | Path, cert: str | Path, key: str | Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        ctx.load_cert_chain(str(cert), str(key))
        ctx.load_verify_locations(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise TLSMaterialError(f"cannot load TLS material: {exc}") from exc
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_context(ca: str | Path, cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """TLS 1.3 server context that demands a client certificate from the testnet CA."""
    return _base_context(ssl.PROTOCOL_TLS_SERVER, ca, cert, key)


def client_context(
    ca: str | Path, cert: str | Path, key: str | Path, check_hostname: bool = False
) -> ssl.SSLContext:
    """TLS 1.3 client context presenting our certificate and trusting only the testnet CA."""
    ctx = _base_context(ssl.PROTOCOL_TLS_CLIENT, ca, cert, key)
    ctx.check_hostname = check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def cert_fingerprint(cert: str | Path | bytes) -> bytes:
    """SHA-256 over the DER certificate; accepts a PEM path, PEM bytes or DER bytes."""
    if isinstance(cert, (str, Path)):
        data = Path(cert).read_bytes()
    else:
        data = bytes(cert)
    if data.lstrip().startswith(b"-----BEGIN"):
        data = x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(data).digest()


def load_node_tls(ca: str | Path, cert: str | Path, key: str | Path) -> NodeTLS:
    return NodeTLS(
        server=server_context(ca, cert, key),
        client=client_context(ca, cert, key),
        fingerprint=cert_fingerprint(cert),
    )
