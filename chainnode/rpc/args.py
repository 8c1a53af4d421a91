"""Integer arguments of RPC routes: one parser, so every route answers a malformed or
out-of-range number with the same 400 instead of a 500 from deeper down."""

from __future__ import annotations

from chainnode.errors import BAD_REQUEST, ChainError


def int_arg(text: object, name: str, lo: int, hi: int) -> int:
    """`text` as an integer in [lo, hi], else ChainError(BAD_REQUEST)."""
    try:
        value = int(text)  # type: ignore[arg-type]
    except ValueError:
        raise ChainError(BAD_REQUEST, f"{name} must be an integer") from None
    if not lo <= value <= hi:
        raise ChainError(BAD_REQUEST, f"{name} must be in [{lo}, {hi}]")
    return value
