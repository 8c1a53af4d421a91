"""SM2 (GB/T 32918): two independent backends cross-checked, and every input check.

gmssl (pure Python) costs ~10 ms per operation, so the cross-checks use a handful of fixed keys.
The keys are derived deterministically and none of them has 0x04 as its first public-key byte
(gmssl's CryptSM2 strips a leading "04" from the key hex, so GmsslBackend mishandles them).
"""

from __future__ import annotations

import pytest
from gmssl import sm2 as gsm2

from chainnode.crypto import sm2
from chainnode.crypto.hashing import sm3
from chainnode.crypto.sm2 import (
    B,
    GmsslBackend,
    N,
    P,
    PrivateKey,
    PublicKey,
    SignatureError,
    TongsuoBackend,
)

TONGSUO = TongsuoBackend()
GMSSL = GmsslBackend()
BACKENDS = [TONGSUO, GMSSL]
IDS = ["tongsuopy", "gmssl"]

# GM/T 0003.5-2012 example on the recommended curve (also in the OpenSSL and GmSSL test suites):
# default user id 1234567812345678, message "message digest", fixed k.
VEC_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
VEC_PUB = bytes.fromhex(
    "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"
    "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
)
VEC_MSG = b"message digest"
VEC_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
VEC_SIG = bytes.fromhex(
    "f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"
    "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
)


def key_scalar(i: int) -> int:
    return int.from_bytes(sm3(b"chainnode-test-key/%d" % i), "big") % (N - 2) + 1


D1, D2 = key_scalar(0), key_scalar(1)
PUB1, PUB2 = TONGSUO.public_from_private(D1), TONGSUO.public_from_private(D2)
MSG = b"chainnode sm2 cross-check"


# (0, sqrt(b)) is on the curve (p = 3 mod 4, so the root is b^((p+1)/4))
Y_AT_X0 = pow(B, (P + 1) // 4, P)


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(out)


def test_fixed_keys_avoid_the_gmssl_04_prefix_issue():
    assert PUB1[0] != 0x04 and PUB2[0] != 0x04 and PUB1 != PUB2


# ---------------------------------------------------------------------------- known answer

def test_standard_vector_public_key_on_both_backends():
    assert TONGSUO.public_from_private(VEC_D) == VEC_PUB
    assert GMSSL.public_from_private(VEC_D) == VEC_PUB
    assert PrivateKey(VEC_D).public_key.raw == VEC_PUB


def test_standard_vector_signature_verifies_on_both_backends():
    # Reproduce the published (r, s) with gmssl's deterministic-k primitive ...
    c = gsm2.CryptSM2(private_key=f"{VEC_D:064x}", public_key=VEC_PUB.hex())
    assert bytes.fromhex(c.sign_with_sm3(VEC_MSG, VEC_K)) == VEC_SIG
    # ... and both backends accept it with the standard default user id (Z value).
    assert TONGSUO.verify(VEC_PUB, VEC_MSG, VEC_SIG)
    assert GMSSL.verify(VEC_PUB, VEC_MSG, VEC_SIG)
    assert PublicKey(VEC_PUB).verify(VEC_SIG, VEC_MSG)
    assert not TONGSUO.verify(VEC_PUB, VEC_MSG + b"!", VEC_SIG)


# ---------------------------------------------------------------------------- cross-checks

@pytest.mark.parametrize("d", [D1, D2, 1, 2, N - 2], ids=["k0", "k1", "d=1", "d=2", "d=n-2"])
def test_public_key_derivation_agrees(d):
    pub = TONGSUO.public_from_private(d)
    assert len(pub) == 64
    assert GMSSL.public_from_private(d) == pub
    PublicKey(pub)  # on the curve


def test_sign_tongsuo_verify_gmssl():
    sig = TONGSUO.sign(D1, PUB1, MSG)
    assert len(sig) == 64
    assert GMSSL.verify(PUB1, MSG, sig)
    assert TONGSUO.verify(PUB1, MSG, sig)


def test_sign_gmssl_verify_tongsuo():
    sig = GMSSL.sign(D1, PUB1, MSG)
    assert len(sig) == 64
    assert TONGSUO.verify(PUB1, MSG, sig)
    assert GMSSL.verify(PUB1, MSG, sig)


def test_signatures_are_randomized():
    assert TONGSUO.sign(D1, PUB1, MSG) != TONGSUO.sign(D1, PUB1, MSG)


@pytest.fixture(scope="module")
def sigs():
    return {"tongsuopy": TONGSUO.sign(D2, PUB2, MSG), "gmssl": GMSSL.sign(D2, PUB2, MSG)}


@pytest.mark.parametrize("signer", IDS)
@pytest.mark.parametrize("verifier", BACKENDS, ids=IDS)
def test_flipped_bits_fail_everywhere(sigs, signer, verifier):
    sig = sigs[signer]
    assert verifier.verify(PUB2, MSG, sig)
    assert not verifier.verify(PUB2, flip(MSG, 5), sig), "message bit"
    assert not verifier.verify(PUB2, MSG, flip(sig, 100)), "bit in r"
    assert not verifier.verify(PUB2, MSG, flip(sig, 400)), "bit in s"
    assert not verifier.verify(flip(PUB2, 300), MSG, sig), "bit in the key"
    assert not verifier.verify(PUB1, MSG, sig), "another valid key"


# ---------------------------------------------------------------------------- input checks

def _r_s(sig: bytes) -> tuple[int, int]:
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def _pack(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_r_s_out_of_range_and_wrong_lengths_rejected(backend):
    sig = TONGSUO.sign(D1, PUB1, MSG)
    r, s = _r_s(sig)
    bad = [
        _pack(0, s), _pack(r, 0), _pack(N, s), _pack(r, N), _pack(N + 1, s),
        _pack(2**256 - 1, s), b"\xff" * 64, b"\x00" * 64,
        sig[:63], sig + b"\x00", b"", b"\x00" + sig,
    ]
    for b in bad:
        assert backend.verify(PUB1, MSG, b) is False, b.hex()


@pytest.mark.parametrize("backend", BACKENDS, ids=IDS)
def test_invalid_public_points_do_not_verify(backend):
    sig = TONGSUO.sign(D1, PUB1, MSG)
    x, y = PUB1[:32], int.from_bytes(PUB1[32:], "big")
    assert backend.verify(x + ((y + 1) % P).to_bytes(32, "big"), MSG, sig) is False
    assert backend.verify(b"\x00" * 64, MSG, sig) is False


def test_point_with_x_zero_is_valid_only_in_reduced_form():
    assert Y_AT_X0 * Y_AT_X0 % P == B
    PublicKey(b"\x00" * 32 + Y_AT_X0.to_bytes(32, "big"))
    with pytest.raises(SignatureError):
        PublicKey(P.to_bytes(32, "big") + Y_AT_X0.to_bytes(32, "big"))


def test_negated_point_is_valid_but_is_another_key():
    x, y = PUB1[:32], int.from_bytes(PUB1[32:], "big")
    neg = x + (P - y).to_bytes(32, "big")
    PublicKey(neg)
    assert not TONGSUO.verify(neg, MSG, TONGSUO.sign(D1, PUB1, MSG))


@pytest.mark.parametrize("raw", [
    b"\x00" * 64,
    PUB1[:32] + ((int.from_bytes(PUB1[32:], "big") + 1) % P).to_bytes(32, "big"),
    P.to_bytes(32, "big") + Y_AT_X0.to_bytes(32, "big"),  # x = p: the point (0, y) unreduced
    PUB1[:32] + (int.from_bytes(PUB1[32:], "big") + P).to_bytes(33, "big")[1:],  # y + p wrapped mod 2**256
    b"\xff" * 64,
    PUB1[:63],
    PUB1 + b"\x00",
    b"\x04" + PUB1,  # the constructor takes raw X||Y only
    b"",
    PUB1.hex(),
    None,
], ids=["zero", "off-curve", "x>=p", "y+p", "ff", "63", "65", "04-prefix", "empty", "str", "none"])
def test_public_key_rejects_invalid_points_and_lengths(raw):
    with pytest.raises(SignatureError):
        PublicKey(raw)


def test_public_key_from_hex_forms():
    assert PublicKey.from_hex(PUB1.hex()).raw == PUB1
    assert PublicKey.from_hex("04" + PUB1.hex()).raw == PUB1
    assert PublicKey.from_hex(("04" + PUB1.hex()).upper()).raw == PUB1
    assert PublicKey(PUB1).hex() == PUB1.hex()
    for bad in ["zz" * 64, "03" + PUB1.hex(), "04" + PUB1.hex()[:-2], PUB1.hex()[:-2], ""]:
        with pytest.raises(SignatureError):
            PublicKey.from_hex(bad)


def test_public_key_is_a_value():
    assert PublicKey(PUB1) == PublicKey(bytes(PUB1)) != PublicKey(PUB2)
    assert len({PublicKey(PUB1), PublicKey(PUB1)}) == 1


# ---------------------------------------------------------------------------- PrivateKey

@pytest.mark.parametrize("d", [0, -1, N - 1, N, N + 1, 2**256])
def test_private_key_range(d):
    with pytest.raises(SignatureError):
        PrivateKey(d)


def test_private_key_edges_and_bytes():
    assert PrivateKey(1).public_key.raw == TONGSUO.public_from_private(1)
    assert PrivateKey(N - 2).secret == N - 2
    k = PrivateKey(D1)
    assert k.to_bytes() == D1.to_bytes(32, "big")
    assert PrivateKey.from_bytes(k.to_bytes()).public_key == k.public_key
    for raw in (b"\x01" * 31, b"\x01" * 33, b""):
        with pytest.raises(SignatureError):
            PrivateKey.from_bytes(raw)
    with pytest.raises(SignatureError):
        PrivateKey.from_bytes(b"\xff" * 32)  # >= n


def test_private_key_sign_and_verify_through_default_backend():
    assert sm2.BACKEND.name == "tongsuopy"
    k = PrivateKey(D2)
    sig = k.sign(MSG)
    assert k.public_key.verify(sig, MSG)
    assert not k.public_key.verify(sig, MSG + b"x")
    assert not PrivateKey(D1).public_key.verify(sig, MSG)


def test_generated_keys_are_distinct_and_valid():
    a, b = PrivateKey.generate(), PrivateKey.generate()
    assert a.secret != b.secret and 0 < a.secret < N - 1
    assert a.public_key.verify(a.sign(b"x"), b"x")
    g = GMSSL.generate()
    assert 0 < g < N - 1


def test_repr_never_shows_the_secret():
    k = PrivateKey(D1)
    text = repr(k) + str(k)
    assert f"{D1:x}" not in text and f"{D1:064x}"[:16] not in text and str(D1) not in text
    assert PUB1[:8].hex() in text
