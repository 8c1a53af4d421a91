"""Top-k sparsification with error feedback, and the wire encoding of an update.

A site sends only the k largest-magnitude coordinates of (update + residual) and keeps the
rest as its residual for the next round (error feedback: nothing is dropped for good, only
delayed). The encoding is what the bytes-per-round figure counts and what the site's committed
update hash covers: a 1-byte tag, the dimension (uint16), then either every value (float32,
dense) or k (uint16) pairs of index (uint16) and value (float32).
"""

from __future__ import annotations

import struct

import numpy as np

from chainnode.crypto.hashing import sm3
from chainnode.fl.privacy import clip

DENSE, SPARSE = 0, 1


def top_k(u: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest |u_i| (ties to the lower index), sorted ascending."""
    if k >= len(u):
        return np.arange(len(u))
    order = np.lexsort((np.arange(len(u)), -np.abs(u)))
    return np.sort(order[:k])


class ErrorFeedback:
    """A site's residual: what earlier rounds did not send yet."""

    def __init__(self, dim: int) -> None:
        self.residual = np.zeros(dim)

    def compress(self, update: np.ndarray, k: int, clip_norm: float | None = None) -> np.ndarray:
        """The sparse vector to send (dense shape, zeros elsewhere), clipped to `clip_norm` if
        given; everything not sent, the clipped-off part included, stays in the residual."""
        u = update + self.residual
        idx = top_k(u, k)
        sent = np.zeros_like(u)
        sent[idx] = u[idx]
        if clip_norm is not None:
            sent = clip(sent, clip_norm)
        self.residual = u - sent
        return sent


def encode(u: np.ndarray, sparse: bool) -> bytes:
    v = np.asarray(u, dtype="<f4")
    if not sparse:
        return struct.pack("<BH", DENSE, len(v)) + v.tobytes()
    idx = np.flatnonzero(v)
    return (struct.pack("<BHH", SPARSE, len(v), len(idx)) + idx.astype("<u2").tobytes()
            + v[idx].tobytes())


def decode(blob: bytes) -> np.ndarray:
    tag, dim = struct.unpack_from("<BH", blob)
    if tag == DENSE:
        return np.frombuffer(blob, "<f4", dim, 3).astype(float)
    (k,) = struct.unpack_from("<H", blob, 3)
    idx = np.frombuffer(blob, "<u2", k, 5)
    vals = np.frombuffer(blob, "<f4", k, 5 + 2 * k)
    out = np.zeros(dim)
    out[idx] = vals
    return out


def update_hash(blob: bytes) -> str:
    """The hash a site commits on chain for its encoded update."""
    return sm3(blob).hex()
