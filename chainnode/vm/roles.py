"""Per-contract role tables kept by the host, so contracts share one implementation.

Every business contract used to carry the same role-table code (grant, revoke, check). The
host now provides it, working on the *calling contract's own storage* under the keys those
contracts already used, `("role", account, role) = True`, so deployed state reads the same:

- `role_has(account, role)` -> bool
- `role_require(roles)`: fails with `PERMISSION_DENIED` unless `ctx.caller` holds `admin` or
  one of `roles` (a list of at most 16 names) in this contract's table
- `role_grant(account, role)` / `role_revoke(account, role)`: admin only; write the table and
  emit `role_granted` / `role_revoked` (account, role)

Pricing follows the VM's cost rules: `op` per call plus `arg_bytes` of every str argument
before anything looks at it, then the ordinary storage and event charges of the reads,
writes and events made (a role check costs at most what the contract's own code paid for
its storage reads, without the interpreted helper). Work is bounded: at most 16 role names, the
failure message is built from names cut to 64 characters, keys obey the storage key limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chainnode import codec
from chainnode.vm import errtext
from chainnode.vm.common import G_OP, size_error, type_error
from chainnode.vm.errors import VMError
from chainnode.vm.gas import MAX_MESSAGE_LEN, MAX_NAME_LEN
from chainnode.vm.hostapi import arg_bytes

ROLE_PREFIX = "role"
_TRUE = codec.encode(True)
ADMIN = "admin"
MAX_ROLE_LIST = 16
# host names bound per contract frame (like emit and call)
ROLE_NAMES = ("role_has", "role_require", "role_grant", "role_revoke")


class RoleAPI:
    """Mixin of Runtime (uses charge and the storage and event methods of HostAPI)."""

    def role_has(self, frame: Any, account: Any, role: Any) -> bool:
        if type(account) is not str or type(role) is not str:
            raise type_error("role_has() needs str account and role")
        self.charge(G_OP + arg_bytes(account, role))
        # compare the stored bytes, never decode them: a value a contract wrote there by hand
        # (a big list) costs its read, not a decode
        return self._read(frame, (ROLE_PREFIX, account, role))[1] == _TRUE

    def role_require(self, frame: Any, roles: Any) -> None:
        if type(roles) is not list and type(roles) is not tuple:
            raise type_error("role_require() needs a list of role names")
        if len(roles) > MAX_ROLE_LIST:
            raise size_error(f"role_require() takes at most {MAX_ROLE_LIST} roles")
        for r in roles:
            if type(r) is not str:
                raise type_error("role names must be str")
        self.charge(G_OP + arg_bytes(*roles))
        who = frame.caller
        if self.role_has(frame, who, ADMIN):
            return
        for r in roles:
            if self.role_has(frame, who, r):
                return
        names = ",".join(errtext.escape(r, MAX_NAME_LEN) for r in roles)
        raise VMError("PERMISSION_DENIED", ("caller lacks role " + names)[:MAX_MESSAGE_LEN])

    def role_grant(self, frame: Any, account: Any, role: Any) -> None:
        self.role_require(frame, ())
        if type(account) is not str or type(role) is not str or not role:
            raise VMError("BAD_INPUT", "account and role are strings")
        self.storage_set(frame, (ROLE_PREFIX, account, role), True)
        self.emit(frame, "role_granted", {"account": account, "role": role})

    def role_revoke(self, frame: Any, account: Any, role: Any) -> None:
        self.role_require(frame, ())
        self.storage_delete(frame, (ROLE_PREFIX, account, role))
        self.emit(frame, "role_revoked", {"account": account, "role": role})

    def role_functions(self, frame: Any) -> dict[str, Callable[..., Any]]:
        """The four host functions bound to one contract call's frame."""

        def role_has(account: Any, role: Any, /) -> bool:
            return self.role_has(frame, account, role)

        def role_require(roles: Any, /) -> None:
            self.role_require(frame, roles)

        def role_grant(account: Any, role: Any, /) -> None:
            self.role_grant(frame, account, role)

        def role_revoke(account: Any, role: Any, /) -> None:
            self.role_revoke(frame, account, role)

        return {"role_has": role_has, "role_require": role_require,
                "role_grant": role_grant, "role_revoke": role_revoke}
