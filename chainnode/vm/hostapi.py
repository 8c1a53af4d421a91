"""The host API: storage with buffered writes, events, require, roles, SM3 and cross-contract
calls, plus module instantiation for each contract call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode import codec
from chainnode.crypto.hashing import sm3 as _sm3
from chainnode.vm import errtext
from chainnode.vm.api import CompiledContract, Event
from chainnode.vm.common import (
    CODE_RE,
    EVENT_RE,
    G_CHUNK,
    G_CODEC_NODE,
    G_OP,
    size_error,
    type_error,
    value_error,
)
from chainnode.vm.errors import HostFailure, HostRefused, OutOfGas, VMError
from chainnode.vm.gas import (
    GAS,
    MAX_CROSS_DEPTH,
    MAX_EVENT_BYTES,
    MAX_EVENTS,
    MAX_IO_BYTES,
    MAX_KEY_BYTES,
    MAX_KEY_PARTS,
    MAX_MESSAGE_LEN,
    MAX_NAME_LEN,
    MAX_VALUE_BYTES,
    MAX_VALUE_DEPTH,
)
from chainnode.vm.hostobjs import Ctx, Map, Storage

# Codes the chain itself uses: a contract's require() may not impersonate them.
RESERVED_PREFIXES = ("TX_", "VM_", "SYS_")


def arg_bytes(*texts: str) -> int:
    """Gas for host arguments by size: G_CHUNK per started 64 characters of each (a str of n
    characters encodes to at most 4n bytes, copied at most once more by the host)."""
    return sum(((len(t) + 63) >> 6) * G_CHUNK for t in texts)


def short_str(x: Any, what: str, limit: int = MAX_NAME_LEN) -> str:
    """A str host argument of at most `limit` characters that encodes as UTF-8."""
    if type(x) is not str:
        raise type_error(f"{what} must be a str")
    if len(x) > limit:
        raise size_error(f"{what} longer than {limit} characters")
    if not errtext.is_encodable(x):
        raise value_error(f"{what} is not valid Unicode (lone surrogate)")
    return x


class Frame:
    """One active contract call: whose storage, who called (an account or a contract), and
    whether writes are allowed."""

    __slots__ = ("contract", "caller", "caller_kind", "readonly")

    def __init__(self, contract: str, caller: str, readonly: bool,
                 caller_kind: str = "account") -> None:
        self.contract = contract
        self.caller = caller
        self.caller_kind = caller_kind if caller else ""
        self.readonly = readonly


def bind_check(info: Any, kwargs: dict) -> None:
    """Transactions pass keyword arguments only; refuse anything the function cannot bind, so
    a TypeError inside the contract is never confused with bad input."""
    names = {name: (kind, has_default) for name, kind, has_default in info.params}
    for k in kwargs:
        spec = names.get(k)
        if spec is None or spec[0] == "posonly":
            raise VMError("VM_BAD_ARGS", f"unexpected argument {errtext.operand(k)}")
    for name, (_kind, has_default) in names.items():
        if not has_default and name not in kwargs:
            raise VMError("VM_BAD_ARGS", f"missing argument {name!r}")


class HostAPI:
    """Mixin of Runtime: the host, context, write buffer and event list live there."""

    def sm3(self, data: Any) -> str:
        if type(data) is str:
            self.charge(GAS["sm3"] + arg_bytes(data))  # before encoding: up to 4 MB
            try:
                data = data.encode("utf-8")
            except UnicodeEncodeError:
                raise value_error("sm3() input is not valid Unicode (lone surrogate)") from None
        elif type(data) is bytes:
            self.charge(GAS["sm3"])
        else:
            raise type_error("sm3() needs str or bytes")
        self.charge(((len(data) + 63) >> 6) * GAS["sm3_chunk"])
        return _sm3(data).hex()

    def require(self, cond: Any, code: Any, message: Any = "") -> None:
        self.charge(G_OP)
        if (type(code) is not str or len(code) > 48 or not CODE_RE.match(code)
                or code.startswith(RESERVED_PREFIXES)):
            raise VMError("VM_BAD_CODE", "require() code must match [A-Z][A-Z0-9_]{0,47} and "
                          "must not start with TX_, VM_ or SYS_")
        if type(message) is not str:
            raise type_error("require() message must be a str")
        if not cond:
            text = message[:MAX_MESSAGE_LEN]  # cut first: only the kept part is looked at
            self.charge(arg_bytes(text))
            if not errtext.is_encodable(text):
                raise value_error("require() message is not valid Unicode (lone surrogate)")
            raise VMError(code, text)

    def has_role(self, address: Any, role: Any) -> bool:
        if type(address) is not str or type(role) is not str:
            raise type_error("has_role() needs str address and role")
        self.charge(GAS["has_role"] + arg_bytes(address, role))
        if len(address) > MAX_NAME_LEN or len(role) > MAX_NAME_LEN:
            return False  # no account address or role name is that long
        short_str(address, "has_role() address")
        short_str(role, "has_role() role")
        return bool(self.call_host(self.host.has_role, address, role))

    def call_host(self, fn: Callable, *args: Any) -> Any:
        try:
            return fn(*args)
        except (OutOfGas, HostFailure):
            raise
        except HostRefused as exc:
            raise VMError(exc.code, errtext.bounded(exc.message)) from None
        except Exception as exc:
            raise HostFailure(exc) from exc

    # -- storage ---------------------------------------------------------------------------

    def storage_key(self, k: Any) -> bytes:
        t = type(k)
        if t is str or t is int:
            parts: Any = k
        elif t is tuple or t is list:
            if not 1 <= len(k) <= MAX_KEY_PARTS:
                raise size_error(f"a composite key has 1 to {MAX_KEY_PARTS} parts")
            for p in k:
                tp = type(p)
                if tp is not str and tp is not int:
                    raise type_error("storage key parts must be str or int")
                if tp is str and len(p) > MAX_KEY_BYTES:
                    raise size_error(f"storage key longer than {MAX_KEY_BYTES} bytes")
            parts = list(k)
        else:
            raise type_error("storage keys are str, int or a tuple of those")
        if t is str and len(k) > MAX_KEY_BYTES:
            raise size_error(f"storage key longer than {MAX_KEY_BYTES} bytes")
        try:
            raw = codec.encode(parts)
        except codec.CodecError as exc:
            if exc.code == "CODEC_UTF8":
                raise value_error("storage key is not valid Unicode (lone surrogate)") from None
            raise size_error("storage key integer too large") from None
        if len(raw) > MAX_KEY_BYTES:
            raise size_error(f"storage key longer than {MAX_KEY_BYTES} bytes")
        return raw

    def encode_value(self, v: Any, max_bytes: int, max_depth: int) -> bytes:
        enc, _ = self.walk(v, max_depth=max_depth, data_only=True)
        if enc > 2 * max_bytes + 64:
            raise size_error(f"value larger than {max_bytes} bytes")
        self.charge(self.nodes * G_CODEC_NODE)
        try:
            raw = codec.encode(v, max_depth=max_depth)
        except codec.CodecError as exc:
            if exc.code == "CODEC_BAD_KEY":
                raise type_error("dict keys of stored/returned values must be str") from None
            if exc.code == "CODEC_UTF8":
                raise value_error("a string in the value is not valid Unicode (lone surrogate)"
                                  ) from None
            raise size_error(exc.message) from None
        if len(raw) > max_bytes:
            raise size_error(f"value larger than {max_bytes} bytes")
        return raw

    def copy_value(self, v: Any, max_bytes: int, max_depth: int = codec.MAX_DEPTH) -> Any:
        """Deep copy through the canonical codec: nothing mutable crosses a contract boundary,
        and tuples become lists exactly as they would after a round trip through state."""
        raw = self.encode_value(v, max_bytes, max_depth)
        self.charge(self.nodes * G_CODEC_NODE + (len(raw) >> 6) * G_CHUNK)
        return codec.decode(raw, max_depth=max_depth)

    def _read(self, frame: Frame, k: Any) -> tuple[bytes, bytes | None]:
        kb = self.storage_key(k)
        self.charge(GAS["storage_read"] + len(kb) * GAS["storage_byte_read"])
        slot = (frame.contract, kb)
        if slot in self.writes:
            raw = self.writes[slot]
        else:
            raw = self.call_host(self.host.storage_get, frame.contract, kb)
            if raw is not None and type(raw) is not bytes:
                raw = bytes(raw)
        if raw is not None:
            self.charge(len(raw) * GAS["storage_byte_read"])
        return kb, raw

    def storage_get(self, frame: Frame, k: Any, default: Any = None) -> Any:
        _, raw = self._read(frame, k)
        if raw is None:
            return default
        self.decode_cost(raw)
        try:
            return codec.decode(raw)
        except codec.CodecError as exc:
            raise VMError("VM_INTERNAL", f"stored value is not canonical: {exc.code}") from None

    def storage_has(self, frame: Frame, k: Any) -> bool:
        return self._read(frame, k)[1] is not None

    def _writable(self, frame: Frame) -> None:
        if frame.readonly:
            raise VMError("VM_READONLY", "storage is read-only in a view or query")

    def storage_set(self, frame: Frame, k: Any, v: Any) -> None:
        self._writable(frame)
        kb = self.storage_key(k)
        raw = self.encode_value(v, MAX_VALUE_BYTES, MAX_VALUE_DEPTH)
        self.charge(GAS["storage_write"] + (len(kb) + len(raw)) * GAS["storage_byte_write"])
        self.writes[(frame.contract, kb)] = raw

    def storage_delete(self, frame: Frame, k: Any) -> None:
        self._writable(frame)
        kb = self.storage_key(k)
        self.charge(GAS["storage_delete"] + len(kb) * GAS["storage_byte_write"])
        self.writes[(frame.contract, kb)] = None

    # -- events and cross-contract calls -------------------------------------------------------

    def emit(self, frame: Frame, name: Any, fields: dict) -> None:
        self._writable(frame)
        if type(name) is not str or len(name) > MAX_NAME_LEN or not EVENT_RE.match(name):
            raise value_error("event name must match [A-Za-z][A-Za-z0-9_]{0,63}")
        if len(self.events) >= MAX_EVENTS:
            raise size_error(f"more than {MAX_EVENTS} events")
        raw = self.encode_value(fields, MAX_EVENT_BYTES, codec.MAX_DEPTH)
        self.charge(GAS["event"] + len(raw) * GAS["event_byte"])
        self.events.append(Event(frame.contract, name, codec.decode(raw)))

    def cross_call(self, frame: Frame, contract: Any, method: Any, kwargs: dict) -> Any:
        if type(contract) is not str or type(method) is not str:
            raise type_error("call() needs a contract name and a method name")
        if self.cross_depth >= MAX_CROSS_DEPTH:
            raise VMError("VM_CALL_DEPTH", f"cross-contract depth exceeds {MAX_CROSS_DEPTH}")
        self.charge(GAS["call"] + GAS["cross_call"] + arg_bytes(contract, method))
        if len(contract) > MAX_NAME_LEN or not errtext.is_encodable(contract[:MAX_NAME_LEN]):
            raise VMError("VM_NO_CONTRACT", f"no contract {errtext.operand(contract)}")
        short_str(method, "call() method name")
        compiled = self.call_host(self.host.load_contract, contract)
        if compiled is None:
            raise VMError("VM_NO_CONTRACT", f"no contract {errtext.operand(contract)}")
        kind = compiled.exports.get(method)
        if kind is None:
            raise VMError("VM_NO_METHOD", f"{errtext.operand(contract)} has no method "
                          f"{errtext.operand(method)}")
        if kind == "export" and frame.readonly:
            raise VMError("VM_READONLY", "cannot call an @export method from a read-only call")
        try:
            args = self.copy_value(kwargs, MAX_IO_BYTES)
        except VMError as exc:
            raise VMError("VM_BAD_ARGS", exc.message) from None
        self.cross_depth += 1
        try:
            return self.invoke(compiled, contract, method, args, frame.contract,
                               frame.readonly or kind == "view", caller_kind="contract")
        finally:
            self.cross_depth -= 1

    def invoke(self, compiled: CompiledContract, name: str, method: str, kwargs: dict,
               caller: str, readonly: bool, caller_kind: str = "account") -> Any:
        program = self.load_program(compiled)
        info = program.functions.get(method)
        if info is None:
            raise VMError("VM_NO_METHOD", f"no method {errtext.operand(method)}")
        bind_check(info, kwargs)
        frame = Frame(name, caller, readonly, caller_kind)
        g = self.instantiate(program, frame)
        result = g[method](**kwargs)
        try:
            return self.copy_value(result, MAX_IO_BYTES)
        except VMError as exc:
            raise VMError("VM_BAD_RETURN", exc.message) from None

    def instantiate(self, program: Any, frame: Frame) -> dict[str, Any]:
        ctx = self.ctx
        g: dict[str, Any] = {
            "__builtins__": self.builtins,
            "__vm_contract__": frame.contract,
            "ctx": Ctx(sender=ctx.sender, caller=frame.caller, caller_kind=frame.caller_kind,
                       height=ctx.height,
                       time_ms=ctx.time_ms, tx_hash=ctx.tx_hash, contract=frame.contract,
                       chain_id=ctx.chain_id),
            "storage": Storage(self, frame),
            "Map": self._map_factory(frame),
            "emit": self._emit_factory(frame),
            "call": self._call_factory(frame),
            **self.role_functions(frame),  # type: ignore[attr-defined]  # RoleAPI (roles.py)
        }
        self.modules.append(g)
        exec(program.code, g)  # noqa: S102 - checked, rewritten, metered contract code
        return g

    def _map_factory(self, frame: Frame) -> Callable[[Any], Map]:
        def make_map(prefix: Any) -> Map:
            self.charge(G_OP)
            if type(prefix) is not str or not 1 <= len(prefix) <= MAX_NAME_LEN:
                raise value_error(f"Map prefix must be a str of 1 to {MAX_NAME_LEN} chars")
            short_str(prefix, "Map prefix")
            return Map(self, frame, prefix)

        return make_map

    def _emit_factory(self, frame: Frame) -> Callable[..., None]:
        def emit(name: Any, /, **fields: Any) -> None:
            self.emit(frame, name, fields)

        return emit

    def _call_factory(self, frame: Frame) -> Callable[..., Any]:
        def call(contract: Any, method: Any, /, **kwargs: Any) -> Any:
            return self.cross_call(frame, contract, method, kwargs)

        return call
