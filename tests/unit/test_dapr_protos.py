"""The runtime imports Dapr's protos without the SDK package's start-up walk."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from mecha.dapr_protos import skip_sdk_package_init
skip_sdk_package_init()
from dapr.proto.runtime.v1 import dapr_pb2_grpc, state_pb2
assert state_pb2.GetStateRequest(store_name="s", key="k").key == "k"
assert hasattr(dapr_pb2_grpc, "DaprServicer")
walked = hasattr(sys.modules["dapr"], "_check_for_legacy_extension_issues")
print("importlib.metadata" in sys.modules, walked)
"""


def test_protos_import_without_the_sdk_package_init() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_an_already_imported_sdk_package_is_left_alone() -> None:
    probe = "import dapr\n" + PROBE
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]
