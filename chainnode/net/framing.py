"""Wire frames: a 4-byte big-endian length, then the canonical encoding of [msg_type, payload].

Sans-IO so the hostile-input cases (oversize, truncation, garbage) are tested without sockets.
The decoder is pull-based (`feed`, then `next_message`) so a caller can change the limits
between two frames: the handshake reads with a tiny frame cap and the allowed types of the
handshake, then raises both for the application messages that may follow in the same buffer.
The length prefix is checked as soon as its 4 bytes arrive, so an oversized frame is refused
before any of its body is buffered.
"""

from __future__ import annotations

import struct
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from chainnode import codec

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
DEFAULT_MAX_FRAME = 16 * 1024 * 1024
MAX_TYPE_LEN = 64


class FrameError(Exception):
    """A stream that cannot be decoded; the connection it came from must be dropped."""

    code = "FRAME_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.code}: {message}")
        self.message = message


class FrameTooLarge(FrameError):
    code = "FRAME_TOO_LARGE"


class FrameMalformed(FrameError):
    code = "FRAME_MALFORMED"


class FrameTruncated(FrameMalformed):
    code = "FRAME_TRUNCATED"


class FrameBadType(FrameError):
    code = "FRAME_BAD_TYPE"


@dataclass(frozen=True)
class Message:
    msg_type: str
    payload: Any


def encode_frame(msg_type: str, payload: Any, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    if type(msg_type) is not str or not msg_type or len(msg_type) > MAX_TYPE_LEN:
        raise FrameBadType(f"message type must be a non-empty str of at most {MAX_TYPE_LEN} chars")
    body = codec.encode([msg_type, payload])
    if len(body) > max_frame:
        raise FrameTooLarge(f"{len(body)}-byte frame exceeds limit {max_frame}")
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Turns a byte stream into Messages. After the first error it stays failed."""

    def __init__(
        self,
        max_frame: int = DEFAULT_MAX_FRAME,
        allowed_types: Collection[str] | None = None,
        max_depth: int = codec.MAX_DEPTH,
    ) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.max_frame = max_frame
        self.allowed_types = frozenset(allowed_types) if allowed_types is not None else None
        self.max_depth = max_depth
        self._buf = bytearray()
        self._error: FrameError | None = None

    def set_limits(
        self,
        *,
        max_frame: int | None = None,
        allowed_types: Collection[str] | None = None,
    ) -> None:
        if max_frame is not None:
            self.max_frame = max_frame
        if allowed_types is not None:
            self.allowed_types = frozenset(allowed_types)

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._buf += data

    def next_message(self) -> Message | None:
        """The next complete message, or None when more bytes are needed."""
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except FrameError as exc:
            self._error = exc
            self._buf.clear()
            raise

    def messages(self, data: bytes = b"") -> list[Message]:
        """Feed data and return every complete message now available."""
        self.feed(data)
        out = []
        while (msg := self.next_message()) is not None:
            out.append(msg)
        return out

    def close(self) -> None:
        """The stream ended: leftover bytes mean the last frame was cut off."""
        if self._error is None and self._buf:
            self._error = FrameTruncated(f"stream ended with {len(self._buf)} bytes of a frame")
            raise self._error

    def _next(self) -> Message | None:
        if len(self._buf) < HEADER_SIZE:
            return None
        (size,) = HEADER.unpack_from(self._buf)
        if size > self.max_frame:
            raise FrameTooLarge(f"{size}-byte frame exceeds limit {self.max_frame}")
        if size == 0:
            raise FrameMalformed("empty frame")
        end = HEADER_SIZE + size
        if len(self._buf) < end:
            return None
        body = bytes(self._buf[HEADER_SIZE:end])
        del self._buf[:end]
        try:
            value = codec.decode(body, max_size=size, max_depth=self.max_depth)
        except codec.CodecError as exc:
            raise FrameMalformed(f"body is not canonical: {exc.code}") from exc
        if type(value) is not list or len(value) != 2:
            raise FrameMalformed("body must be [msg_type, payload]")
        msg_type, payload = value
        if type(msg_type) is not str or not msg_type or len(msg_type) > MAX_TYPE_LEN:
            raise FrameMalformed("message type must be a short non-empty string")
        if self.allowed_types is not None and msg_type not in self.allowed_types:
            raise FrameBadType(f"message type {msg_type[:MAX_TYPE_LEN]!r} is not allowed here")
        return Message(msg_type, payload)
