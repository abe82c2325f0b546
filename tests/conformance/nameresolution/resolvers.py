"""The name resolvers the conformance suite runs against: one entry per component type.

Each entry gives the configuration to create the resolver with (as a Configuration's
`spec.nameResolution.configuration` holds it, against the real servers on this machine) and
whether it registers instances. Resolvers that register (local, redis) run the registration
tests; the others (static, dns) list what they must resolve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mecha.blocks.nameresolution.models import Address
from mecha.components.base import ComponentContext

REDIS_HOST = "127.0.0.1:6379"


@dataclass(frozen=True, slots=True)
class Lookup:
    app_id: str
    namespace: str
    addresses: tuple[Address, ...]


@dataclass(frozen=True, slots=True)
class ResolverUnderTest:
    id: str
    type: str
    configuration: Mapping[str, object]
    registers: bool
    # What a resolver that does not register must resolve.
    lookups: tuple[Lookup, ...] = ()
    # An app id it must resolve to nothing.
    unknown_app_id: str = "no-such-app"
    # Field that keeps one test's data apart from another's on a shared server (a fresh value
    # per test), if any.
    isolating_field: str | None = None
    # Longest time, in seconds, until an instance whose owner was killed stops resolving.
    orphan_deadline: float = 10.0
    version: str = "v1"


STATIC_APPS = {
    "orders": [
        "127.0.0.1:50002:50001",
        {"host": "127.0.0.2", "internalPort": 50012, "grpcPort": 50011},
    ],
    "gateway": ["[::1]:50022:50021"],
}

RESOLVERS: tuple[ResolverUnderTest, ...] = (
    ResolverUnderTest(
        "local",
        "nameresolution.local",
        # Defaults: a 10 s lease, liveness rechecked after 1 s. A killed owner is noticed by its
        # pid at the next check.
        {},
        registers=True,
        orphan_deadline=1.0 + 4.0,
    ),
    ResolverUnderTest(
        "redis",
        "nameresolution.redis",
        # A short lease, so an owner that stopped renewing drops out quickly.
        {"redisHost": REDIS_HOST, "leaseSeconds": 1},
        registers=True,
        isolating_field="keyPrefix",
        orphan_deadline=1.0 + 1.0 + 4.0,  # lease + cache + margin
    ),
    ResolverUnderTest(
        "static",
        "nameresolution.static",
        {
            "apps": STATIC_APPS,
            "namespaces": {"payments": {"ledger": ["10.1.2.3:50002:50001"]}},
        },
        registers=False,
        lookups=(
            Lookup(
                "orders",
                "",
                (Address("127.0.0.1", 50002, 50001), Address("127.0.0.2", 50012, 50011)),
            ),
            Lookup("gateway", "", (Address("::1", 50022, 50021),)),
            Lookup("ledger", "payments", (Address("10.1.2.3", 50002, 50001),)),
            # Each namespace has its own apps.
            Lookup("ledger", "", ()),
            Lookup("orders", "payments", ()),
        ),
    ),
    ResolverUnderTest(
        "dns",
        "nameresolution.dns",
        # `localhost` resolves from /etc/hosts, without asking a DNS server.
        {"template": "{app_id}", "addressFamily": "ipv4", "internalPort": 50002, "grpcPort": 50001},
        registers=False,
        lookups=(
            Lookup("localhost", "", (Address("127.0.0.1", 50002, 50001),)),
            Lookup("localhost", "payments", (Address("127.0.0.1", 50002, 50001),)),
        ),
        # Not a valid host name: the system resolver refuses it without a network query.
        unknown_app_id="-no-such-app",
    ),
)


def resolver_context(
    under_test: ResolverUnderTest, configuration: dict[str, object], data_dir: Path
) -> ComponentContext:
    # Handed over as YAML gave it (nested mappings, lists, numbers), though the context types
    # metadata as text: resolvers read both.
    metadata: Mapping[str, Any] = dict(configuration)
    return ComponentContext(
        name="nameresolution",
        type=under_test.type,
        version=under_test.version,
        metadata=metadata,
        namespace="",
        data_dir=data_dir,
    )
