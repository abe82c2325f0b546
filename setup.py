"""Mecha's build: the data plane compiled to C with mypyc, the rest plain Python.

The modules every request runs through (mecha.build.COMPILED) are compiled; they are the same
strictly typed Python either way, and with MECHA_PURE_PYTHON=1 or without mypyc Mecha runs them
as Python. scripts/setup builds them in place for a checkout.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
from mecha.build import COMPILED, GROUP, pure_python_requested


def _extensions() -> list[object]:
    if pure_python_requested():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("setup.py: mypyc is not installed; Mecha is built as plain Python", file=sys.stderr)
        return []
    paths = [os.path.join("src", entry) for entry in COMPILED]
    return list(mypycify(paths, opt_level="3", debug_level="0", group_name=GROUP))


setup(ext_modules=_extensions())
