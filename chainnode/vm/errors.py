"""Exceptions of the contract VM.

Three families with different catchability on purpose:
- ContractRejected: deploy-time, raised to the deployer.
- VMError: a contract failed in a way it could have avoided; carries a stable error code.
- OutOfGas / HostFailure derive from BaseException so that no `except Exception` anywhere in
  the helpers (or a future host callback) can swallow them; contract code cannot catch
  anything because `try` is not part of the language.
"""

from __future__ import annotations


class ContractRejected(Exception):
    """The source was refused at deploy: `rule` names the violated rule, stable across nodes."""

    def __init__(self, rule: str, line: int, col: int, message: str) -> None:
        super().__init__(f"{rule} at {line}:{col}: {message}")
        self.rule = rule
        self.line = line
        self.col = col
        self.message = message


class VMError(Exception):
    """A contract-level failure with a stable code (VM_* or a contract's own require code)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class OutOfGas(BaseException):  # noqa: N818 - the name is the error
    """Gas ran out. Final: the meter stays exhausted, so every later charge raises again."""


class HostFailure(BaseException):  # noqa: N818
    """The host (executor/storage) raised; re-raised by execute as the original exception."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


class HostRefused(Exception):  # noqa: N818 - the name is the outcome
    """The host refused an operation for a reason of its own (e.g. CONTRACT_FROZEN).

    Raised by a Host callback; the VM turns it into a failed call with this code and the gas
    actually consumed so far, like any other contract-level failure."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class QueryDeadline(BaseException):  # noqa: N818
    """A read-only query ran past its wall-clock limit (queries only: never in consensus)."""
