# With no --resources-path, the embedded default state store `statestore` (SQLite) serves the
# state API as a user meets it first: the Python SDK saves, reads with etags, runs a transaction,
# queries and deletes.
import json
import warnings

import grpc
from dapr.clients import DaprClient
from dapr.clients.grpc._request import TransactionalStateOperation, TransactionOperationType
from tests.acceptance.python.support import expect, expect_equal, expect_grpc_code, run_token

STORE = "statestore"
run = run_token()
# The SDK warns on every query call that the query API is alpha; that is expected here.
warnings.filterwarnings("ignore", message="The State Store Query API is an Alpha version")


def key(name: str) -> str:
    return f"{name}-{run}"


with DaprClient() as client:
    client.save_state(STORE, key("order"), b'{"id":1,"status":"new"}')
    first = client.get_state(STORE, key("order"))
    expect_equal("value", first.data, b'{"id":1,"status":"new"}')
    expect("an etag", bool(first.etag), first.etag)

    client.save_state(STORE, key("order"), b'{"id":1,"status":"paid"}', etag=first.etag)
    expect_grpc_code(
        "save with a stale etag",
        lambda: client.save_state(STORE, key("order"), b"{}", etag=first.etag),
        grpc.StatusCode.ABORTED,
    )

    client.execute_state_transaction(
        STORE,
        [
            TransactionalStateOperation(key("line-1"), b'{"order":1,"sku":"a"}'),
            TransactionalStateOperation(key("line-2"), b'{"order":1,"sku":"b"}'),
            TransactionalStateOperation(
                key("order"), operation_type=TransactionOperationType.delete
            ),
        ],
    )
    expect_equal("deleted in the transaction", client.get_state(STORE, key("order")).data, b"")

    lines = client.query_state(
        STORE,
        json.dumps({"filter": {"EQ": {"order": 1}}, "sort": [{"key": "sku", "order": "DESC"}]}),
    )
    expect_equal(
        "the order's lines, by sku descending",
        [r.key for r in lines.results],
        [key("line-2"), key("line-1")],
    )

    for name in ("line-1", "line-2"):
        client.delete_state(STORE, key(name))
        expect_equal(f"{name} deleted", client.get_state(STORE, key(name)).data, b"")
