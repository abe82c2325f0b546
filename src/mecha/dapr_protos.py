"""Use Dapr's generated protos without starting the SDK packages around them.

The runtime needs only the `*_pb2` modules of the pinned `dapr` package. Three package
`__init__`s stand in the way: `dapr`'s walks every installed distribution looking for legacy
SDK extensions (importlib.metadata, email, zipfile...: ~10 ms and 1.3 MB), and `dapr.proto`'s
and `dapr.proto.runtime.v1`'s import every `*_pb2_grpc` stub module, hence grpcio (~10 MB and
~30 ms), which the runtime loads only for an app that speaks gRPC. Registering those package
modules without running their `__init__` skips all that; the modules below them import as usual.

Only for a process that runs no SDK code: the SDK's clients rely on what those `__init__`s
define. The `mecha` command calls it; code embedding the runtime beside an app does not.
"""

from __future__ import annotations

import importlib.util
import sys

_PACKAGES = ("dapr", "dapr.proto", "dapr.proto.runtime.v1")


def skip_sdk_package_inits() -> None:
    """Call before the first `dapr.*` import; does nothing once `dapr` is imported."""
    if "dapr" in sys.modules:
        return
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
