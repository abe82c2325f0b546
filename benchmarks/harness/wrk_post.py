"""A wrk script that POSTs a fixed body and still prints the JSON report of `wrk_report.lua`."""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness.wrk import REPORT_SCRIPT


def write_post_script(folder: Path, body: bytes, content_type: str) -> Path:
    """Write `post.lua` into `folder`; the body sits in a Lua string, so printable ASCII only."""
    text = body.decode("ascii")
    if not text.isprintable() or "\\" in text or '"' in text:
        raise ValueError("the body must be printable ASCII without quotes or backslashes")
    script = folder / "post.lua"
    script.write_text(
        "\n".join(
            [
                'wrk.method = "POST"',
                f'wrk.body = "{text}"',
                f'wrk.headers["Content-Type"] = "{content_type}"',
                f'dofile("{REPORT_SCRIPT}")',
                "",
            ]
        )
    )
    return script
