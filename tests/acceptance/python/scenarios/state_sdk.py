# Python SDK (DaprClient over gRPC) against every state store type: save/get with etags,
# optimistic concurrency, bulk save/get, transactions (and their atomicity), deletes with etags,
# the query API where the store declares it, TTL expiry and keys the runtime must refuse.
# Each store runs the same steps; the output ends with PASS/FAIL per store.
#
# @timeout 60
# @resource memory.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: memory
#   spec:
#     type: state.in-memory
#     version: v1
# @resource sqlite.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: sqlite
#   spec:
#     type: state.sqlite
#     version: v1
#     metadata:
#       - name: connectionString
#         value: state.db
# @resource redis.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: redis
#   spec:
#     type: state.redis
#     version: v1
#     metadata:
#       - name: redisHost
#         value: 127.0.0.1:6379
# @resource postgres.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: postgres
#   spec:
#     type: state.postgresql
#     version: v1
#     metadata:
#       - name: connectionString
#         value: "host=127.0.0.1 port=5432 user=postgres dbname=test"
#       - name: tableName
#         value: acceptance_state
#       - name: metadataTableName
#         value: acceptance_state_metadata
# @resource mysql.yaml
#   apiVersion: dapr.io/v1alpha1
#   kind: Component
#   metadata:
#     name: mysql
#   spec:
#     type: state.mysql
#     version: v1
#     metadata:
#       - name: connectionString
#         value: "root:@tcp(127.0.0.1:3306)/?parseTime=true"
#       - name: schemaName
#         value: acceptance
#       - name: tableName
#         value: state
import json
import time
import warnings
from functools import partial

import grpc
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from dapr.clients.grpc._state import Concurrency, StateItem, StateOptions
from tests.acceptance.python.support import (
    StoreMatrix,
    expect,
    expect_equal,
    expect_grpc_code,
    run_token,
)

STORES = ("memory", "sqlite", "redis", "postgres", "mysql")
QUERYABLE = ("memory", "sqlite", "postgres", "mysql")  # the stores that declare the query API
FIRST_WRITE = StateOptions(concurrency=Concurrency.first_write)
TTL_DEADLINE_S = 10.0
# daprd answers any failed transaction with INTERNAL, an etag mismatch included; ABORTED says the
# same more precisely. Either tells the app nothing was applied.
TRANSACTION_ETAG_MISMATCH = (grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL)

run = run_token()
matrix = StoreMatrix(STORES)
# The SDK warns on every query call that the query API is alpha; that is expected here.
warnings.filterwarnings("ignore", message="The State Store Query API is an Alpha version")


def key(name: str) -> str:
    return f"{name}-{run}"


def expect_value(client: DaprClient, store: str, name: str, expected: bytes) -> str:
    """The key's value is `expected` (b"" meaning absent); return its etag."""
    response = client.get_state(store, key(name))
    expect_equal(f"value of {name}", response.data, expected)
    if expected:
        expect(f"{name} has an etag", bool(response.etag), response.etag)
    else:
        expect_equal(f"etag of absent {name}", response.etag, "")
    return str(response.etag)


def expect_error_code(error: grpc.RpcError, reason: str) -> None:
    expect("the SDK raises DaprGrpcError", isinstance(error, DaprGrpcError), type(error))
    assert isinstance(error, DaprGrpcError)
    # The SDK leaves this method untyped.
    expect_equal("ErrorInfo reason", error.error_code(), reason)  # type: ignore[no-untyped-call]


with DaprClient() as client:

    def ttl_save(store: str) -> None:
        client.save_state(store, key("ttl"), b"short-lived", state_metadata={"ttlInSeconds": "1"})
        expect_value(client, store, "ttl", b"short-lived")

    def round_trip(store: str) -> None:
        document = json.dumps({"greeting": "olá", "n": 1}, separators=(",", ":")).encode()
        client.save_state(store, key("doc"), document)
        first = expect_value(client, store, "doc", document)
        client.save_state(store, key("text"), "plain text")
        expect_value(client, store, "text", b"plain text")
        binary = bytes([0, 255, 16, 128, 10])
        client.save_state(store, key("binary"), binary)
        expect_value(client, store, "binary", binary)
        client.save_state(store, key("doc"), b'{"greeting":"again"}')
        second = expect_value(client, store, "doc", b'{"greeting":"again"}')
        expect("a write changes the etag", first != second, (first, second))
        expect_value(client, store, "never-written", b"")

    def optimistic_concurrency(store: str) -> None:
        client.save_state(store, key("occ"), b"v1")
        stale = expect_value(client, store, "occ", b"v1")
        client.save_state(store, key("occ"), b"v2", etag=stale, options=FIRST_WRITE)
        current = expect_value(client, store, "occ", b"v2")
        expect_grpc_code(
            "save with a stale etag",
            lambda: client.save_state(store, key("occ"), b"v3", etag=stale, options=FIRST_WRITE),
            grpc.StatusCode.ABORTED,
        )
        expect_value(client, store, "occ", b"v2")
        client.save_state(store, key("occ"), b"v3", etag=current, options=FIRST_WRITE)
        expect_value(client, store, "occ", b"v3")

    def bulk(store: str) -> None:
        items = [StateItem(key(f"bulk-{i}"), f"value {i}") for i in range(3)]
        items.append(StateItem(key("bulk-json"), b'{"list":[1,2,3]}'))
        client.save_bulk_state(store, items)
        asked = [key("bulk-2"), key("bulk-missing"), key("bulk-0"), key("bulk-json"), key("bulk-1")]
        response = client.get_bulk_state(store, asked)
        expect_equal("bulk keys, in the order asked", [i.key for i in response.items], asked)
        expect_equal(
            "bulk values",
            [i.data for i in response.items],
            [b"value 2", b"", b"value 0", b'{"list":[1,2,3]}', b"value 1"],
        )
        expect_equal("bulk errors", [i.error for i in response.items], [""] * 5)
        etags = [i.etag for i in response.items]
        expect("every present key has an etag", all(etags[i] for i in (0, 2, 3, 4)), etags)
        expect_equal("a missing key has no etag", etags[1], "")
        expect_equal(
            "single get agrees on the etag",
            expect_value(client, store, "bulk-0", b"value 0"),
            etags[2],
        )

    def transaction(store: str) -> None:
        client.save_state(store, key("tx-a"), b"1")
        client.save_state(store, key("tx-b"), b"2")
        client.execute_state_transaction(
            store,
            [
                TransactionalStateOperation(key("tx-a"), b"10"),
                TransactionalStateOperation(
                    key("tx-b"), operation_type=TransactionOperationType.delete
                ),
                TransactionalStateOperation(key("tx-c"), b"30"),
            ],
        )
        expect_value(client, store, "tx-a", b"10")
        expect_value(client, store, "tx-b", b"")
        stale = expect_value(client, store, "tx-c", b"30")
        client.save_state(store, key("tx-c"), b"31")
        expect_value(client, store, "tx-c", b"31")
        stale_upsert = TransactionalStateOperation(key("tx-c"), b"300", etag=stale)
        stale_delete = TransactionalStateOperation(
            key("tx-c"), etag=stale, operation_type=TransactionOperationType.delete
        )
        for label, operations in (
            ("an upsert", [TransactionalStateOperation(key("tx-a"), b"100"), stale_upsert]),
            ("a delete", [TransactionalStateOperation(key("tx-a"), b"100"), stale_delete]),
        ):
            expect_grpc_code(
                f"transaction with a stale etag on {label}",
                partial(client.execute_state_transaction, store, operations),
                *TRANSACTION_ETAG_MISMATCH,
            )
            expect_value(client, store, "tx-a", b"10")
            expect_value(client, store, "tx-c", b"31")

    def delete(store: str) -> None:
        client.save_state(store, key("del"), b"first")
        stale = expect_value(client, store, "del", b"first")
        client.save_state(store, key("del"), b"second")
        current = expect_value(client, store, "del", b"second")
        expect_grpc_code(
            "delete with a stale etag",
            lambda: client.delete_state(store, key("del"), etag=stale, options=FIRST_WRITE),
            grpc.StatusCode.ABORTED,
        )
        expect_value(client, store, "del", b"second")
        client.delete_state(store, key("del"), etag=current, options=FIRST_WRITE)
        expect_value(client, store, "del", b"")
        client.delete_state(store, key("del"))  # deleting what is gone is not an error
        client.save_state(store, key("del-plain"), b"x")
        client.delete_state(store, key("del-plain"))
        expect_value(client, store, "del-plain", b"")

    def query(store: str) -> None:
        people = {
            "ana": {"run": run, "city": "Lisbon", "age": 31},
            "bruno": {"run": run, "city": "Porto", "age": 27},
            "carla": {"run": run, "city": "Lisbon", "age": 45},
            "duarte": {"run": run, "city": "Lisbon", "age": 19},
        }
        client.save_bulk_state(
            store,
            [StateItem(key(f"q-{n}"), json.dumps(doc).encode()) for n, doc in people.items()],
        )
        lisbon = {
            "filter": {"AND": [{"EQ": {"run": run}}, {"EQ": {"city": "Lisbon"}}]},
            "sort": [{"key": "age", "order": "DESC"}],
        }
        response = client.query_state(store, json.dumps(lisbon))
        expect_equal(
            "people in Lisbon, oldest first",
            [r.key for r in response.results],
            [key("q-carla"), key("q-ana"), key("q-duarte")],
        )
        expect_equal(
            "their documents",
            [r.json() for r in response.results],
            [people[n] for n in ("carla", "ana", "duarte")],
        )
        expect("results carry etags", all(r.etag for r in response.results), response.results)
        page = {"filter": {"EQ": {"run": run}}, "sort": [{"key": "age"}], "page": {"limit": 3}}
        first = client.query_state(store, json.dumps(page))
        expect_equal(
            "first page, youngest first",
            [r.key for r in first.results],
            [key("q-duarte"), key("q-bruno"), key("q-ana")],
        )
        expect("a full page carries a token", bool(first.token), first.token)
        page["page"] = {"limit": 3, "token": first.token}
        second = client.query_state(store, json.dumps(page))
        expect_equal("second page", [r.key for r in second.results], [key("q-carla")])

    def query_unsupported(store: str) -> None:
        error = expect_grpc_code(
            "query on a store without the query API",
            lambda: client.query_state(store, json.dumps({"filter": {"EQ": {"run": run}}})),
            grpc.StatusCode.INTERNAL,
        )
        expect_error_code(error, "DAPR_STATE_QUERYING_NOT_SUPPORTED")

    def illegal_keys(store: str) -> None:
        for label, call in (
            ("save", lambda: client.save_state(store, "bad||key", b"x")),
            ("get", lambda: client.get_state(store, "bad||key")),
            ("delete", lambda: client.delete_state(store, "bad||key")),
        ):
            error = expect_grpc_code(
                f"{label} of a key with ||", call, grpc.StatusCode.INVALID_ARGUMENT
            )
            expect_error_code(error, "DAPR_STATE_ILLEGAL_KEY")

    def ttl_expired(store: str) -> None:
        deadline = time.monotonic() + TTL_DEADLINE_S
        while client.get_state(store, key("ttl")).data:
            if time.monotonic() > deadline:
                raise AssertionError(f"the 1 s TTL key is still there after {TTL_DEADLINE_S:g} s")
            time.sleep(0.2)
        print("ok: the TTL key expired")

    def clean_up(store: str) -> None:
        names = ["doc", "text", "binary", "occ", "tx-a", "tx-c", "del-plain"]
        names += [f"bulk-{i}" for i in ("0", "1", "2", "json")]
        names += [f"q-{n}" for n in ("ana", "bruno", "carla", "duarte")]
        for name in names:
            client.delete_state(store, key(name))

    matrix.step("save with a 1 s TTL", ttl_save)
    matrix.step("save/get round trip", round_trip)
    matrix.step("optimistic concurrency", optimistic_concurrency)
    matrix.step("bulk save and get", bulk)
    matrix.step("transaction", transaction)
    matrix.step("delete", delete)
    matrix.step("query", query, QUERYABLE)
    matrix.step("query unsupported", query_unsupported, set(STORES) - set(QUERYABLE))
    matrix.step("illegal keys", illegal_keys)
    matrix.step("TTL expiry", ttl_expired)
    matrix.step("clean up", clean_up)

matrix.finish()
