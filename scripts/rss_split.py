#!/usr/bin/env python3
"""Where a node's resident memory is: heap (anonymous) versus LevelDB tables mapped from disk.

LevelDB (plyvel) maps up to 1,000 table files into the process to read them, so every page
a read touches counts in RSS until the table leaves LevelDB's table cache. Those pages are
clean file pages the kernel can drop under pressure; they grow with the store, not with a
leak. Anonymous memory is what the process itself holds (Python objects, caches, LevelDB's
block cache and memtables, freed memory the allocator keeps).

    scripts/rss_split.py PID [PID ...]
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RssSplit:
    anon_kb: int  # heap, stacks, anonymous mmaps
    tables_kb: int  # LevelDB table files (*.ldb, *.sst) mapped for reads
    tables_dirty_kb: int  # of tables_kb: written pages (expected 0: tables are read-only)
    files_kb: int  # other mapped files: the interpreter, shared libraries

    @property
    def total_kb(self) -> int:
        return self.anon_kb + self.tables_kb + self.files_kb


def _is_table(path: str) -> bool:
    return path.endswith((".ldb", ".sst"))


def split(smaps: Iterable[str]) -> RssSplit:
    """Sum the Rss of each mapping in /proc/PID/smaps text by what it maps."""
    anon = tables = dirty = files = 0
    path = ""
    for line in smaps:
        parts = line.split()
        if not parts:
            continue
        if "-" in parts[0] and not parts[0].endswith(":"):  # a mapping's header line
            path = parts[5] if len(parts) >= 6 else ""
        elif parts[0] == "Rss:":
            kb = int(parts[1])
            if _is_table(path):
                tables += kb
            elif path.startswith("/"):
                files += kb
            else:
                anon += kb
        elif parts[0] in ("Private_Dirty:", "Shared_Dirty:") and _is_table(path):
            dirty += int(parts[1])
    return RssSplit(anon, tables, dirty, files)


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    for pid in argv:
        s = split(Path(f"/proc/{pid}/smaps").read_text().splitlines())
        print(f"pid {pid}: RSS {s.total_kb / 1024:.1f} MB = anonymous {s.anon_kb / 1024:.1f}"
              f" + LevelDB tables {s.tables_kb / 1024:.1f} (dirty {s.tables_dirty_kb} kB)"
              f" + other files {s.files_kb / 1024:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
