"""MkDocs hook: write the generated reference pages before the docs are read."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

from reference_pages import write_pages  # noqa: E402


def on_pre_build(config, **_) -> None:
    write_pages(DOCS, DOCS.parent)
    (DOCS / "changelog.md").write_text((DOCS.parent / "CHANGELOG.md").read_text())
