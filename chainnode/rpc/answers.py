"""The answers of the hot routes (POST /tx, POST /txs) as JSON bytes, without json_response.

One answer per committed transaction: web.json_response sets up a JSONEncoder per call and
Receipt.to_json walks the receipt's value and events in Python to turn bytes into {"hex"}.
Here one C encoder, made once, does both in a single pass (bytes reach its `default`). The
bytes are exactly those json.dumps(Receipt.to_json()) and json_response give (pinned in
tests/unit/rpc/test_answers.py), with the same Content-Type.
"""

from __future__ import annotations

import json
from json.encoder import c_make_encoder, encode_basestring_ascii
from typing import Any

from aiohttp import web

from chainnode.core.block import Receipt


def _default(o: Any) -> Any:
    """What _jsonable does to bytes; anything else fails as json.dumps would."""
    if isinstance(o, bytes):
        return {"hex": o.hex()}
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


if c_make_encoder is not None:
    # json.dumps' defaults (", ", ": ", ASCII only, NaN allowed, keys unsorted). No circular
    # check: the values come from the codec, which has no cycles and caps the depth.
    _encode = c_make_encoder(None, _default, encode_basestring_ascii, None, ": ", ", ",
                             False, False, True)

    def dumps(doc: Any) -> str:
        """json.dumps(doc), bytes anywhere inside written as {"hex": ...}."""
        return "".join(_encode(doc, 0))
else:  # pragma: no cover - CPython always has the C accelerator
    dumps = json.JSONEncoder(default=_default).encode


def receipt_doc(rc: Receipt) -> dict:
    """Receipt.to_json() with bytes left in place for `dumps` to write (same keys, order)."""
    return {
        "tx_hash": rc.tx_hash.hex(), "status": "ok" if rc.status == Receipt.OK else "failed",
        "gas_used": rc.gas_used, "value": rc.value,
        "events": [{"contract": c, "name": n, "fields": f} for c, n, f in rc.events],
        "error_code": rc.error_code, "error_message": rc.error_message,
    }


def committed_doc(tx_hash: bytes, height: int, rc: Receipt) -> dict:
    return {"hash": tx_hash.hex(), "status": "committed", "height": height,
            "receipt": receipt_doc(rc)}


# committed_doc as written by `dumps`, its fixed keys already in place: the encoder is left
# only the values that vary, and hex digests and plain ints need no encoder at all. Joined
# from pieces: str % parses its template on every call, which costs more than the join.
_C_HASH = '{"hash": "'
_C_HEIGHT = '", "status": "committed", "height": '
_C_TX_HASH = ', "receipt": {"tx_hash": "'
_C_STATUS = '", "status": "'
_C_GAS = '", "gas_used": '
_C_VALUE = ', "value": '
_C_EVENTS = ', "events": '
_C_CODE = ', "error_code": '
_C_MESSAGE = ', "error_message": '
_C_END = "}}"
_E_CONTRACT = '{"contract": '
_E_NAME = ', "name": '
_E_FIELDS = ', "fields": '
_CONSTANTS = {id(None): "null", id(True): "true", id(False): "false"}


def _text(value: Any) -> str:
    """dumps(value), the encoder's own string function for a plain str."""
    return encode_basestring_ascii(value) if type(value) is str else dumps(value)


def _int(value: Any) -> str:
    """dumps(value): an int's repr for a plain int (a bool or a float goes to the encoder)."""
    return int.__repr__(value) if type(value) is int else dumps(value)


def _value(value: Any) -> str:
    """dumps(value), None and the booleans (a receipt's usual values) without the encoder."""
    const = _CONSTANTS.get(id(value))
    return const if const is not None else dumps(value)


def _events(events: tuple) -> str:
    """dumps of receipt_doc's "events" list."""
    if not events:
        return "[]"
    return "[" + ", ".join(["".join((_E_CONTRACT, _text(c), _E_NAME, _text(n), _E_FIELDS,
                                     dumps(f), "}"))
                            for c, n, f in events]) + "]"


def committed_text(tx_hash: bytes, height: int, rc: Receipt) -> str:
    """dumps(committed_doc(tx_hash, height, rc)), the same characters, built faster."""
    return "".join((_C_HASH, tx_hash.hex(), _C_HEIGHT, _int(height), _C_TX_HASH,
                    rc.tx_hash.hex(), _C_STATUS, "ok" if rc.status == Receipt.OK else "failed", _C_GAS,
                    _int(rc.gas_used), _C_VALUE, _value(rc.value), _C_EVENTS,
                    _events(rc.events), _C_CODE, _text(rc.error_code), _C_MESSAGE,
                    _text(rc.error_message), _C_END))


def json_answer(doc: Any, status: int = 200) -> web.Response:
    """web.json_response(doc, status=status), bytes inside written as {"hex"}."""
    return json_bytes(dumps(doc).encode(), status)


def json_bytes(body: bytes, status: int = 200) -> web.Response:
    """A response with `body`, already JSON, sent as json_response sends it."""
    return web.Response(body=body, status=status, content_type="application/json",
                        charset="utf-8")


def committed(tx_hash: bytes, height: int, rc: Receipt) -> web.Response:
    """200 {"hash", "status": "committed", "height", "receipt"}."""
    return json_bytes(committed_text(tx_hash, height, rc).encode())
