"""Where the shared third-party mail corpus lives, for tests that read it (read-only).

The corpus sits next to the repository, in /work/shared/corpus; each folder has MANIFEST.md and an
expected.json whose `_schema` block explains its fields. A checkout without it skips those tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS: Path = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


def corpus_dir(name: str) -> Path:
    """The corpus folder `name`; skips the calling test when the corpus or the folder is absent."""
    folder = CORPUS / name
    if not folder.is_dir():
        pytest.skip(f"mail corpus folder {name!r} not found at {folder} (shared corpus not checked out)")
    return folder
