"""The state stores the conformance suite runs against: one entry per component type.

Each entry names the component type, the metadata to create it with (against the real server on
this machine), and the features it must declare. The suite asserts that declared features work
and that undeclared ones are refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StoreUnderTest:
    id: str
    type: str
    features: frozenset[str]
    metadata: dict[str, str] = field(default_factory=dict)
    version: str = "v1"


STORES: tuple[StoreUnderTest, ...] = (
    StoreUnderTest(
        "in-memory",
        "state.in-memory",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API"}),
    ),
    StoreUnderTest(
        "sqlite",
        "state.sqlite",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API"}),
        # A relative path: the store puts it in the data folder (a fresh one per test).
        {"connectionString": "state.db"},
    ),
    StoreUnderTest(
        "redis",
        "state.redis",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL"}),
        {"redisHost": "127.0.0.1:6379"},
    ),
    StoreUnderTest(
        "postgresql",
        "state.postgresql",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API"}),
        {
            "connectionString": "host=127.0.0.1 port=5432 user=postgres database=test",
            "tableName": "mecha_conformance",
            "metadataTableName": "mecha_conformance_metadata",
        },
    ),
    StoreUnderTest(
        "postgresql-v2",
        "state.postgresql",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL"}),
        {
            "connectionString": "postgres://postgres@127.0.0.1:5432/test",
            "tablePrefix": "mecha_conformance_",
            "metadataTableName": "mecha_conformance_metadata",
        },
        version="v2",
    ),
    StoreUnderTest(
        "mysql",
        "state.mysql",
        frozenset({"ETAG", "TRANSACTIONAL", "TTL", "QUERY_API"}),
        {
            "connectionString": "root:@tcp(127.0.0.1:3306)/",
            "schemaName": "test",
            "tableName": "mecha_conformance",
            "metadataTableName": "mecha_conformance_metadata",
        },
    ),
)
