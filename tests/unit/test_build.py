"""The compiled build's checks: which sources count, and edits made after a build."""

from __future__ import annotations

import os
from pathlib import Path

from mecha import build


def test_sources_cover_every_listed_module() -> None:
    sources = build.sources()
    names = {str(path.relative_to(build.SRC)) for path in sources}
    assert "mecha/http1/parse.py" in names
    assert "mecha/callbacks.py" in names
    assert all(path.suffix == ".py" and path.exists() for path in sources)


def test_sources_newer_than_the_build_are_reported(tmp_path: Path) -> None:
    stamp = tmp_path / "stamp"
    stamp.write_text("x")
    newest = max(path.stat().st_mtime for path in build.sources())
    os.utime(stamp, (newest + 10, newest + 10))
    assert build.edited_since_build(stamp) == []
    os.utime(stamp, (newest - 10, newest - 10))
    edited = build.edited_since_build(stamp)
    assert max(build.sources(), key=lambda path: path.stat().st_mtime) in edited


def test_no_build_means_nothing_to_report(tmp_path: Path) -> None:
    assert build.edited_since_build(tmp_path / "missing") == []
