"""What one load run of the state benchmark is asked to do, and what it measured.

Both cross a process boundary as JSON: the harness spawns each run in its own pinned process.
"""

from __future__ import annotations

import json
import string
from dataclasses import asdict, dataclass
from typing import Any

HOST = "127.0.0.1"
TARGETS = ("redis-py", "resp", "http", "grpc")
OPERATIONS = ("save", "get")
# A 1 KiB JSON value: a string of 1,022 letters, 1,024 bytes once quoted.
VALUE = json.dumps((string.ascii_letters * 20)[:1022])


@dataclass(frozen=True)
class LoadSpec:
    """One run: len(keys) callers, each looping on `operation` against its own key."""

    target: str
    operation: str
    keys: list[str]
    duration_s: float
    warmup_s: float
    redis_port: int
    value: str = VALUE
    store: str = ""
    http_port: int = 0
    grpc_port: int = 0
    server_pid: int = 0  # Mecha's, whose CPU time is read around the measured window
    redis_pid: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadSpec:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Percentiles:
    """Microseconds per operation, seen by the caller."""

    mean: float
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True)
class LoadFigures:
    """What one run measured over its window (warm-up excluded). CPU times are seconds."""

    target: str
    operation: str
    callers: int
    ops: int
    errors: int
    wall_s: float
    latency_us: Percentiles
    client_cpu_s: float
    server_cpu_s: float | None
    redis_cpu_s: float | None
    first_error: str | None = None

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.wall_s if self.wall_s else 0.0

    def per_op_us(self, cpu_s: float | None) -> float | None:
        return cpu_s * 1e6 / self.ops if cpu_s is not None and self.ops else None

    def summary(self) -> dict[str, Any]:
        """The JSON form, with the derived figures spelled out."""
        return {
            **asdict(self),
            "ops_per_s": self.ops_per_s,
            "client_cpu_us_per_op": self.per_op_us(self.client_cpu_s),
            "server_cpu_us_per_op": self.per_op_us(self.server_cpu_s),
            "redis_cpu_us_per_op": self.per_op_us(self.redis_cpu_s),
            "client_cpu_utilisation": self.client_cpu_s / self.wall_s if self.wall_s else 0.0,
            "server_cpu_utilisation": (
                self.server_cpu_s / self.wall_s if self.server_cpu_s and self.wall_s else None
            ),
        }

    @classmethod
    def from_json(cls, text: str) -> LoadFigures:
        data = json.loads(text)
        data["latency_us"] = Percentiles(**data["latency_us"])
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self))
