"""The runtime imports Dapr's protos without the SDK packages' start-up work."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from mecha.dapr_protos import skip_sdk_package_inits
skip_sdk_package_inits()
from dapr.proto.runtime.v1 import dapr_pb2, state_pb2
assert state_pb2.GetStateRequest(store_name="s", key="k").key == "k"
assert "GetState" in dapr_pb2.DESCRIPTOR.services_by_name["Dapr"].methods_by_name
loaded = [name for name in ("importlib.metadata", "grpc") if name in sys.modules]
print(" ".join(loaded) or "-")
"""


def probe(prelude: str = "") -> str:
    out = subprocess.run(
        [sys.executable, "-c", prelude + PROBE], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_protos_import_without_the_metadata_walk_or_grpcio() -> None:
    assert probe() == "-"


def test_a_process_that_imported_the_sdk_keeps_it_whole() -> None:
    assert probe("import dapr.proto\n") == "importlib.metadata grpc"
