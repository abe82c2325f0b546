"""Use Dapr's generated protos without starting the SDK package around them.

The runtime needs only `dapr.proto.*` from the pinned `dapr` package. That package's own
`__init__` walks every installed distribution looking for legacy SDK extensions, to warn SDK
users; in a sidecar it costs each start about 10 ms and 1.3 MB (importlib.metadata, email,
zipfile...) for a warning that cannot concern it. Registering the package module without running
its `__init__` skips that walk; its submodules import as usual.
"""

from __future__ import annotations

import importlib.util
import sys


def skip_sdk_package_init() -> None:
    """Call before the first `dapr.*` import; a no-op once the package is imported."""
    if "dapr" in sys.modules:
        return
    spec = importlib.util.find_spec("dapr")
    if spec is not None:
        sys.modules["dapr"] = importlib.util.module_from_spec(spec)
