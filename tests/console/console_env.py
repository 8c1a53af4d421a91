"""Constants shared by the console tests' fixtures and cases (a conftest cannot be imported
by name: every test directory has one)."""

from __future__ import annotations

import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DEMO_TIMEOUT = 150.0
VIEW_TIMEOUT_MS = 45_000  # generous: the suite shares 2 cores with 4 node processes

# strings a hostile member could put on chain: they must show as text, never run
HOSTILE_NAME = '<img src=x id=xss-img onerror="window.__xss=1">'
HOSTILE_NOTE = "<script>window.__xss=2</script><b id=xss-b>bold</b>"
HOSTILE_CONTRACT = textwrap.dedent('''\
    # a contract whose event carries whatever the caller sent <script>window.__xss=3</script>
    @export
    def note(text):
        emit("noted", text=text)
        return text
''')
