"""scripts/rss_split.py: RSS split into heap, mapped LevelDB tables and other files."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import rss_split  # noqa: E402

SMAPS = """\
55d0c0a00000-55d0c0c00000 rw-p 00000000 00:00 0                          [heap]
Rss:                2048 kB
Private_Dirty:      2048 kB
7f0000000000-7f0000200000 r--p 00000000 08:01 1234                       /data/node0/chain/000012.ldb
Rss:                1500 kB
Shared_Dirty:          0 kB
Private_Dirty:         0 kB
7f0000400000-7f0000500000 r--p 00000000 08:01 1235                       /data/node0/chain/000013.sst
Rss:                 100 kB
Private_Dirty:         4 kB
7f0000600000-7f0000700000 r-xp 00000000 08:01 99                         /usr/lib/libc.so.6
Rss:                 900 kB
7f0000800000-7f0000900000 rw-p 00000000 00:00 0
Rss:                  64 kB
"""


def test_split_sums_rss_by_what_is_mapped() -> None:
    s = rss_split.split(SMAPS.splitlines())
    assert (s.anon_kb, s.tables_kb, s.tables_dirty_kb, s.files_kb) == (2112, 1600, 4, 900)
    assert s.total_kb == 4612


def test_split_of_this_process_matches_its_rss() -> None:
    s = rss_split.split(Path("/proc/self/smaps").read_text().splitlines())
    rss_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text()
                  .splitlines() if line.startswith("VmRSS:"))
    assert s.files_kb > 0 and s.anon_kb > 0
    assert abs(s.total_kb - rss_kb) < rss_kb // 10  # both read moments apart
