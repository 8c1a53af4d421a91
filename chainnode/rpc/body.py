"""Request bodies checked at the door: content type, size, UTF-8, JSON depth and field types.

Every malformed body gets a 4xx with a code and a message before a handler sees it, and no
body can make a handler fail with a 5xx: Python's JSON parser recurses once per nesting level,
so 5,000 nested arrays used to surface as a RecursionError (500). Nesting is measured on the
raw bytes in C-speed passes (no per-character Python loop) before anything is parsed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from chainnode.errors import BAD_REQUEST, ChainError

MAX_JSON_DEPTH = 32  # deeper than any RPC document (args included) needs
MAX_JSON_BYTES = 4 * 1024 * 1024
UNSUPPORTED_MEDIA_TYPE = 415

JSON = "application/json"
MSGPACK = "application/msgpack"
OCTETS = "application/octet-stream"  # what aiohttp reports when a client sends no type

# +1 for an opening bracket, -1 for a closing one, 0 for every other byte
_DELTA = [0] * 256
for _c in b"[{":
    _DELTA[_c] = 1
for _c in b"]}":
    _DELTA[_c] = -1
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(body: bytes) -> int:
    """Deepest array/object nesting of a JSON text (valid UTF-8), strings ignored.

    Escapes are removed first (a run of backslashes pairs up left to right exactly as the
    JSON grammar reads it), so every quote left delimits a string; the text outside strings
    is every other piece between quotes. Exact for valid JSON; for invalid JSON it is some
    number, and the parser rejects the body anyway.
    """
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(text.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKETS)
    opens = brackets.count(b"[") + brackets.count(b"{")
    if opens <= 1:
        return opens
    return max(accumulate(map(_DELTA.__getitem__, brackets)))


class BodyError(ChainError):
    """A refused body; `status` overrides the code's usual HTTP status (415 for a type)."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(code, message)
        self.status = status


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes, max_depth: int = MAX_JSON_DEPTH, code: str = BAD_REQUEST) -> Any:
    """The JSON document in `body`, or BodyError(code) saying what is wrong with it."""
    if len(body) > MAX_JSON_BYTES:
        raise BodyError("TX_TOO_LARGE", f"JSON body larger than {MAX_JSON_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(code, f"body is not UTF-8 (bad byte at offset {exc.start})") from None
    depth = json_depth(body)
    if depth > max_depth:
        raise BodyError(code, f"JSON nested {depth} deep; at most {max_depth} allowed")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except RecursionError:  # not reachable within max_depth; never a 500 all the same
        raise BodyError(code, "JSON nested too deep") from None
    except ValueError as exc:
        raise BodyError(code, f"body is not JSON: {exc}") from None


@dataclass(frozen=True)
class BodyRule:
    """What one POST route accepts: content types and, for JSON, the fields' types."""

    types: frozenset[str]
    required: dict[str, type] = field(default_factory=dict)
    optional: dict[str, type] = field(default_factory=dict)
    code: str = BAD_REQUEST  # the error code of a malformed body on this route
    # False: the handler reads the body itself (bounded in size and time) and calls
    # check_body off the event loop; the route guard does not read it first
    at_door: bool = True

    def check_fields(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            raise BodyError(self.code, "JSON body must be an object")
        for name in self.required:
            if name not in doc:
                raise BodyError(self.code, f"JSON body needs field {name!r}")
        for name, typ in (*self.required.items(), *self.optional.items()):
            if name in doc and not _is(doc[name], typ):
                raise BodyError(self.code, f"field {name!r} must be a {_TYPE_NAMES[typ]}")


_TYPE_NAMES = {str: "string", dict: "JSON object", int: "integer", list: "list"}


def _is(value: Any, typ: type) -> bool:
    return type(value) is typ  # bool is not an int here, nor a str subclass a str


# POST routes by their path: a body outside these is refused before the handler runs
RULES: dict[str, BodyRule] = {
    "/tx": BodyRule(frozenset({MSGPACK, OCTETS, JSON}), {"tx": str}, code="TX_MALFORMED"),
    "/txs": BodyRule(frozenset({MSGPACK, OCTETS}), code="TX_MALFORMED"),
    "/query": BodyRule(frozenset({JSON}), {"contract": str, "method": str},
                       {"args": dict, "auth": dict}, at_door=False),
}


def check_body(path: str, content_type: str, body: bytes, charset: str | None = None) -> Any:
    """Check a POST body against its route's rule; returns the parsed JSON (or None).

    JSON is read as UTF-8 only: a handler that honoured a declared charset (UTF-7, say) would
    read other text than was checked here — a shallow document can be deep in UTF-7.
    """
    rule = RULES.get(path)
    if rule is None:
        return None
    if content_type not in rule.types:
        raise BodyError(BAD_REQUEST, f"{path} takes {' or '.join(sorted(rule.types))}, "
                                     f"not {content_type or 'no content type'}",
                        UNSUPPORTED_MEDIA_TYPE)
    if content_type != JSON:
        return None
    if charset is not None and charset.lower().replace("-", "") != "utf8":
        raise BodyError(BAD_REQUEST, f"JSON bodies are UTF-8, not {charset}",
                        UNSUPPORTED_MEDIA_TYPE)
    doc = parse_json(body, code=rule.code)
    rule.check_fields(doc)
    return doc
