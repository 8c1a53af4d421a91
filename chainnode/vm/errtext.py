"""Error text that leaves the VM: fixed templates with bounded, escaped operands.

Receipts are consensus data, so an error message must be the same on every node, under every
Python build and after any rename inside the VM. Native exception text (`str(exc)`) fails all
three: it embeds reprs of unbounded user values, wording that changes between CPython versions,
and the qualified names of our own guard functions. So a native exception is reported as a
fixed phrase per exception class; operands (a missing key, a name) are cut to a few characters
BEFORE anything else looks at them, then escaped with a rule that needs no Unicode database
(ASCII controls and surrogates only), so the result always encodes as UTF-8.
"""

from __future__ import annotations

from typing import Any

from chainnode.vm.gas import MAX_MESSAGE_LEN

MAX_OPERAND = 40  # characters of a str operand shown in a message
_SMALL_INT = 10**18

# (exception class, code, fixed text); the first isinstance match wins, so subclasses first
NATIVE: tuple[tuple[type[BaseException], str, str], ...] = (
    (RecursionError, "VM_CALL_DEPTH", "RecursionError: call depth exceeded"),
    (UnicodeError, "VM_VALUE_ERROR", "UnicodeError: string is not valid Unicode"),
    (ZeroDivisionError, "VM_ZERO_DIV", "ZeroDivisionError: division or modulo by zero"),
    (KeyError, "VM_KEY_ERROR", "KeyError: key not found"),
    (IndexError, "VM_INDEX_ERROR", "IndexError: index out of range"),
    (TypeError, "VM_TYPE_ERROR", "TypeError: operation not supported for these values"),
    (AttributeError, "VM_TYPE_ERROR", "AttributeError: attribute not available"),
    (NameError, "VM_TYPE_ERROR", "NameError: name is not defined"),
    (OverflowError, "VM_VALUE_ERROR", "OverflowError: value out of range"),
    (ValueError, "VM_VALUE_ERROR", "ValueError: invalid value"),
    (RuntimeError, "VM_VALUE_ERROR", "RuntimeError: invalid operation"),  # e.g. dict resized
)
INTERNAL = ("VM_INTERNAL", "internal error")

_TYPE_LABELS = {list: "<list>", tuple: "<tuple>", dict: "<dict>", bytes: "<bytes>",
                bytearray: "<bytes>", float: "<float>"}


def _esc_char(c: str) -> str:
    o = ord(c)
    if o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
        return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"
    return c


def escape(text: str, limit: int = MAX_OPERAND) -> str:
    """`text` cut to `limit` characters first, then escaped; always valid UTF-8 when encoded."""
    if type(text) is not str:
        return operand(text)
    cut = text[:limit]
    out = "".join(_esc_char(c) for c in cut)
    return out + "..." if len(text) > limit else out


def operand(x: Any) -> str:
    """A short, deterministic rendering of a user value for a message: never a repr."""
    t = type(x)
    if t is str:
        return '"' + escape(x) + '"'
    if t is bool or x is None:
        return str(x)
    if t is int:
        return str(x) if -_SMALL_INT < x < _SMALL_INT else f"<int of {x.bit_length()} bits>"
    return _TYPE_LABELS.get(t, "<value>")


def native(exc: BaseException) -> tuple[str, str]:
    """(code, message) for a native exception raised inside contract code or a guard."""
    for cls, code, text in NATIVE:
        if isinstance(exc, cls):
            if cls is KeyError and exc.args:
                return code, f"KeyError: key {operand(exc.args[0])} not found"
            return code, text
    return INTERNAL


def bounded(message: str, limit: int = MAX_MESSAGE_LEN) -> str:
    """A message of our own (templates with operands already escaped), made safe to store:
    cut to 4x the limit before any scan, escaped, then cut to the limit."""
    if type(message) is not str:
        return ""
    return escape(message, 4 * limit)[:limit]


def codec_text(exc: Any) -> str:
    """Fixed text for a codec.CodecError that escaped a guard (by its stable code)."""
    return {"CODEC_UTF8": "string is not valid Unicode (lone surrogate)",
            "CODEC_TOO_DEEP": "value nested too deeply",
            "CODEC_INT_RANGE": "integer too large to encode",
            "CODEC_FLOAT": "floats are not allowed"}.get(getattr(exc, "code", ""),
                                                         "value cannot be encoded")


def is_encodable(text: str) -> bool:
    """True if `text` (already length-bounded by the caller) encodes as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
