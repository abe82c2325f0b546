from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mecha_process import MechaProcess

StartMecha = Callable[..., MechaProcess]


@pytest.fixture
def start_mecha(tmp_path: Path) -> Iterator[StartMecha]:
    """Start real runtimes; each is stopped after the test, its log shown if the test failed."""
    started: list[MechaProcess] = []

    def start(**kwargs: Any) -> MechaProcess:
        process = MechaProcess(tmp_path, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def mecha(start_mecha: StartMecha) -> MechaProcess:
    """A ready runtime with the embedded defaults."""
    return start_mecha().wait_ready()
