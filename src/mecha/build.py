"""The modules compiled to C with mypyc (setup.py), and whether a compiled build is current.

A compiled module shadows its `.py`: edit the source without rebuilding (scripts/setup) and the
old code keeps running. `stale()` says when that is so; `edited_since_build()` is the quick
check `mecha run` makes at startup.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent
# Relative to src/: the modules every request runs through.
COMPILED = (
    "mecha/apps.py",
    "mecha/callbacks.py",
    "mecha/listening.py",
    "mecha/http1/",
    "mecha/http2/",
    "mecha/api/http/server.py",
    "mecha/api/http/health.py",
    "mecha/api/http/state.py",
    "mecha/api/http/router.py",
    "mecha/api/http/invoke.py",
    "mecha/api/grpc/invoke.py",
    "mecha/api/grpc/state.py",
    "mecha/blocks/invocation/errors.py",
    "mecha/blocks/invocation/models.py",
    "mecha/blocks/invocation/service.py",
    "mecha/blocks/nameresolution/models.py",
    "mecha/blocks/state/service.py",
    "mecha/mesh/client.py",
    "mecha/mesh/server.py",
    "mecha/mesh/wire.py",
    "mecha/channel/http.py",
    "mecha/components/nameresolution/local.py",
    "mecha/components/redis/client.py",
    "mecha/components/redis/resp.py",
    "mecha/components/state/redis.py",
    "mecha/observability/tracing.py",
)
# mypyc's runtime shared by the compiled modules: src/mecha_compiled__mypyc*.so.
GROUP = "mecha_compiled"
STAMP = SRC / "mecha" / ".compiled-stamp"


def pure_python_requested() -> bool:
    """MECHA_PURE_PYTHON=1: build nothing, run every module as Python."""
    return os.environ.get("MECHA_PURE_PYTHON") == "1"


def sources() -> list[Path]:
    found: list[Path] = []
    for entry in COMPILED:
        path = SRC / entry
        found.extend(sorted(path.glob("*.py")) if entry.endswith("/") else [path])
    return found


def source_hash() -> str:
    """What a build depends on: the compiled sources, the build script, mypyc's version and the
    interpreter (its headers and build flags: another one means building again)."""
    import hashlib  # here, not above: `mecha run` imports this module to check edits
    from importlib import metadata

    digest = hashlib.sha256(metadata.version("mypy").encode() + b"\0" + sys.version.encode())
    for path in [*sources(), SRC.parent / "setup.py"]:
        digest.update(str(path.relative_to(SRC.parent)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def stamped(digest: str) -> bool:
    """The last in-place build recorded sources hashing to `digest`."""
    return STAMP.exists() and STAMP.read_text() == digest


def compiled_modules() -> list[Path]:
    return sorted([*SRC.glob(f"{GROUP}__mypyc*.so"), *(SRC / "mecha").rglob("*.so")])


def remove_compiled() -> None:
    for path in compiled_modules():
        path.unlink()
    STAMP.unlink(missing_ok=True)


def stale() -> str | None:
    """Why the compiled modules do not match their sources, or None when they do (or are none)."""
    if compiled_modules() and not stamped(source_hash()):
        return "compiled modules were built from other sources: run scripts/setup to rebuild"
    return None


def edited_since_build(stamp: Path = STAMP) -> list[Path]:
    """Compiled sources modified after the in-place build: they run as built, not as edited."""
    try:
        built = stamp.stat().st_mtime
    except FileNotFoundError:
        return []  # plain Python, or compiled by an installer rather than in this checkout
    return [path for path in sources() if path.stat().st_mtime > built]
