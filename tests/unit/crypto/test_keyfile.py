"""SM2 key files: PKCS#8 PEM, PBES2-encrypted with a passphrase, written 0600."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from chainnode.crypto.hashing import sm3
from chainnode.crypto.keyfile import (
    KeyFileError,
    dumps_private_key,
    load_private_key,
    loads_private_key,
    save_private_key,
)
from chainnode.crypto.sm2 import N, PrivateKey

KEY = PrivateKey(int.from_bytes(sm3(b"chainnode-test-key/keyfile"), "big") % (N - 2) + 1)
PW = b"correct horse battery staple"


def der_of(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return base64.b64decode(body)


def test_plain_round_trip():
    pem = dumps_private_key(KEY)
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    k = loads_private_key(pem)
    assert k.secret == KEY.secret and k.public_key == KEY.public_key
    # the scalar is in the clear in an unencrypted PKCS#8 file
    assert KEY.to_bytes() in der_of(pem)


def test_encrypted_round_trip():
    pem = dumps_private_key(KEY, PW)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert KEY.to_bytes() not in der_of(pem)
    assert bytes.fromhex("06092a864886f70d01050d") in der_of(pem)  # OID 1.2.840.113549.1.5.13 PBES2
    assert loads_private_key(pem, PW).secret == KEY.secret
    # salted: two encryptions of the same key differ
    assert dumps_private_key(KEY, PW) != pem


def test_passphrase_is_ignored_for_plain_files():
    assert loads_private_key(dumps_private_key(KEY), PW).secret == KEY.secret


@pytest.mark.parametrize("pw", [b"wrong", PW + b"!", PW[:-1]])
def test_wrong_passphrase(pw):
    pem = dumps_private_key(KEY, PW)
    with pytest.raises(KeyFileError):
        loads_private_key(pem, pw)


@pytest.mark.parametrize("pw", [None, b""])
def test_missing_passphrase(pw):
    pem = dumps_private_key(KEY, PW)
    with pytest.raises(KeyFileError, match="passphrase"):
        loads_private_key(pem, pw)


@pytest.mark.parametrize("pem", [
    b"",
    b"garbage",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
], ids=["empty", "garbage", "bad-der", "bad-encrypted-der"])
def test_garbage_is_a_key_file_error(pem):
    with pytest.raises(KeyFileError):
        loads_private_key(pem, PW)


def test_truncated_file_is_a_key_file_error():
    pem = dumps_private_key(KEY)
    lines = pem.splitlines(keepends=True)
    with pytest.raises(KeyFileError):
        loads_private_key(b"".join(lines[:1] + lines[2:]))


@pytest.mark.parametrize("pw", [None, PW], ids=["plain", "encrypted"])
def test_save_and_load_file(tmp_path, pw):
    path = tmp_path / "node.key"
    save_private_key(path, KEY, pw)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_private_key(path, pw).secret == KEY.secret
    assert load_private_key(str(path), pw).public_key == KEY.public_key


def test_wrong_and_missing_passphrase_from_file(tmp_path):
    path = tmp_path / "enc.key"
    save_private_key(path, KEY, PW)
    with pytest.raises(KeyFileError):
        load_private_key(path, b"nope")
    with pytest.raises(KeyFileError):
        load_private_key(path)


def test_missing_file(tmp_path):
    with pytest.raises(KeyFileError, match="cannot read"):
        load_private_key(tmp_path / "absent.key")
    with pytest.raises(KeyFileError):
        load_private_key(tmp_path)  # a directory


def test_overwrite_replaces_the_key(tmp_path):
    path = tmp_path / "k.key"
    save_private_key(path, PrivateKey(5))
    save_private_key(path, KEY)
    assert load_private_key(path).secret == KEY.secret
