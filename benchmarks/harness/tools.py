"""Finding the external programs a benchmark drives, installing them with apt-get when missing."""

from __future__ import annotations

import os
import shutil
import subprocess

# Debian puts daemons in sbin, which an unprivileged PATH may lack.
_EXTRA_DIRS = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class ToolMissingError(RuntimeError):
    """A program the benchmark needs is absent and could not be installed."""


def find_program(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_DIRS])
    return shutil.which(name, path=path)


def ensure_programs(packages_by_program: dict[str, str]) -> dict[str, str]:
    """Map each program to its path, apt-get installing the packages of any that are missing."""
    missing = [prog for prog in packages_by_program if find_program(prog) is None]
    if missing:
        _apt_install(sorted({packages_by_program[prog] for prog in missing}))
    found: dict[str, str] = {}
    for program in packages_by_program:
        path = find_program(program)
        if path is None:
            raise ToolMissingError(
                f"{program} not found (Debian package {packages_by_program[program]})"
            )
        found[program] = path
    return found


def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0:
        raise ToolMissingError(f"install as root first: apt-get install -y {' '.join(packages)}")
    print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *packages]):
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)


def program_version(argv: list[str]) -> str:
    """First line a program prints for its version flag (nginx and wrk print it on stderr)."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"
