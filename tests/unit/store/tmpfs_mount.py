"""A real, small tmpfs for disk-full tests: mounted by the test, always unmounted after it.

CI runs as root, so a test mounts its own filesystem; if it cannot, the test fails with the
reason (it never pretends: a disk-full test without a full disk proves nothing). Filling
writes a filler file until the kernel says ENOSPC; freeing deletes it.

Test files outside this directory load it by file path (tests/integration/test_disk_full.py).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

FILLER = ".filler"


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """Mount a tmpfs of `size` (e.g. "8m") at `where` for the block; unmount it afterwards,
    also when the block fails (lazily if something still holds it open)."""
    where.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                          str(where)], capture_output=True, text=True)
    if res.returncode != 0:
        raise AssertionError(f"cannot mount a {size} tmpfs at {where} (these tests need root): "
                             f"{res.stderr.strip()}")
    try:
        yield where
    finally:
        if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(where)], check=True, capture_output=True)


def fill(where: Path) -> Path:
    """Write a filler file until the filesystem is full; returns its path."""
    path = where / FILLER
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12, 1):
            block = b"\0" * chunk
            while True:
                try:
                    os.write(fd, block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def free(where: Path) -> None:
    (where / FILLER).unlink(missing_ok=True)


def available(where: Path) -> int:
    st = os.statvfs(where)
    return st.f_bavail * st.f_frsize
