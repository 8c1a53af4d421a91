"""Storage failures are fatal, and a failed LevelDB handle is never written again.

After a write error (a full disk, an I/O error), LevelDB's log file is in an unknown state: a
later `write_batch(sync=True)` on the same open handle can return success and still be gone
after a reopen (reproduced with plyvel on a full tmpfs). So the first write error latches: the
`WriteGuard` records it, every later write through the guard raises the same `StorageFailure`
without touching LevelDB, and the listeners (the node) are told once so the process can stop
with `EXIT_STORAGE_FAILURE`. Reads stay possible: LevelDB only makes a batch visible after its
log write succeeded, so what a failed handle reads is what a reopen will find.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger("chainnode.store")

T = TypeVar("T")


def describe(exc: BaseException) -> str:
    """plyvel puts LevelDB's status in bytes; show it as text an operator can read."""
    if exc.args and isinstance(exc.args[0], bytes):
        return exc.args[0].decode("utf-8", errors="replace")
    return str(exc) or type(exc).__name__


class StorageFailure(Exception):
    """A store or WAL write failed; the node must stop (nothing after it is durable)."""

    def __init__(self, what: str, cause: BaseException | None = None,
                 detail: str | None = None) -> None:
        self.what = what
        self.cause = cause
        self.detail = detail or (describe(cause) if cause is not None else "unknown cause")
        super().__init__(f"{what} failed: {self.detail}")


class WriteGuard:
    """The gate every write to one LevelDB handle goes through; latches the first failure."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self.failure: StorageFailure | None = None
        self._listeners: list[Callable[[StorageFailure], None]] = []
        self._lock = threading.Lock()

    def on_failure(self, fn: Callable[[StorageFailure], None]) -> None:
        """Call `fn(failure)` once, from the failing thread, when the first write fails (or
        right away if one already has)."""
        self._listeners.append(fn)
        if self.failure is not None:
            fn(self.failure)

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure

    def write(self, what: str, fn: Callable[[], T]) -> T:
        """Run the write `fn`; on any error latch it and raise StorageFailure.

        The lock makes "not failed yet" and the write one step: no thread can slip a write
        onto the handle after another thread's write failed.
        """
        with self._lock:
            self.check()
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - any error leaves the log indeterminate
                failure = StorageFailure(what, exc)
                self.failure = failure
        log.critical("storage write failed (%s): %s; this database handle will not be "
                     "written again", self.path or "db", failure)
        for fn_ in list(self._listeners):
            try:
                fn_(failure)
            except Exception:  # noqa: BLE001 - a listener must not hide the failure
                log.exception("storage failure listener raised")
        raise failure from failure.cause
