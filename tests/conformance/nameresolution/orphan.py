"""A runtime that dies without cleaning up: it registers one instance, says so on stdout, then
waits to be killed with SIGKILL, so it never unregisters or closes.

    python -m tests.conformance.nameresolution.orphan <resolver id> <data dir> <config JSON>
        <app id> <namespace> <internal port>
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from mecha import registry
from mecha.blocks.nameresolution.models import Instance
from mecha.blocks.nameresolution.protocols import NameResolver
from tests.conformance.nameresolution.resolvers import RESOLVERS, resolver_context

REGISTERED = b"registered\n"


async def main(arguments: list[str]) -> None:
    resolver_id, data_dir, configuration, app_id, namespace, port = arguments
    under_test = next(r for r in RESOLVERS if r.id == resolver_id)
    resolver: NameResolver = registry.name_resolvers.load_class(
        under_test.type, under_test.version
    )()
    await resolver.init(resolver_context(under_test, json.loads(configuration), Path(data_dir)))
    internal_port = int(port)
    await resolver.register(
        Instance(
            app_id=app_id,
            namespace=namespace,
            host="127.0.0.1",
            internal_port=internal_port,
            grpc_port=internal_port + 1,
            http_port=internal_port + 2,
            pid=os.getpid(),
        )
    )
    sys.stdout.buffer.write(REGISTERED)
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
