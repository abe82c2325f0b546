# State written by one SDK over one protocol reads back identically with the other: values saved
# with the Python SDK (gRPC) read with the JS SDK over HTTP (state.get and state.getBulk, same
# etag), and values the JS SDK saves over HTTP read with the Python SDK as the JSON the JS app
# serialised. Runs against every state store type; ends with PASS/FAIL per store.
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
from typing import Any

from dapr.clients import DaprClient
from tests.acceptance.python.support import (
    StoreMatrix,
    expect,
    expect_equal,
    run_js,
    run_token,
)

STORES = ("memory", "sqlite", "redis", "postgres", "mysql")
DOCUMENT = {"name": "Ada", "tags": ["x", "y"], "n": 1.5, "ok": True, "none": None, "text": "olá ✓"}
# What the Python app saves (bytes) and what a JS app reading over HTTP gets back.
FROM_PYTHON: dict[str, tuple[bytes, Any]] = {
    "doc": (json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False).encode(), DOCUMENT),
    "text": (b"plain text, not JSON", "plain text, not JSON"),
    "number": (b"42", 42),
    "quoted": (b'"a JSON string"', "a JSON string"),
}
# What the JS app saves over HTTP; the Python app reads the JSON the JS app serialised.
FROM_JS: dict[str, Any] = {
    "js-object": {"city": "Porto", "scores": [3, 1.25], "nested": {"deep": True}},
    "js-string": "hello from JS",
    "js-number": 7,
}

# Over HTTP for every store: read the Python-written keys with state.get and state.getBulk,
# then save FROM_JS. Prints {store: {get, bulk, stringified} | {error}} as one JSON line.
JS_SIDE = """
import { CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

const { stores, keys, writes } = JSON.parse(process.env.CROSS_PROTOCOL);
const client = new DaprClient({
  daprHost: "127.0.0.1",
  daprPort: process.env.DAPR_HTTP_PORT,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
});
await client.start();
const out = {};
for (const store of stores) {
  try {
    const get = {};
    for (const key of keys) {
      get[key] = await client.state.get(store, key);
    }
    const bulk = await client.state.getBulk(store, keys);
    const stringified = JSON.stringify(get[keys[0]]);
    const items = Object.entries(writes).map(([key, value]) => ({ key, value }));
    const saved = await client.state.save(store, items);
    if (saved?.error) {
      throw saved.error;
    }
    const serialised = Object.fromEntries(items.map((i) => [i.key, JSON.stringify(i.value)]));
    out[store] = { get, bulk, stringified, serialised };
  } catch (error) {
    out[store] = { error: String(error?.stack ?? error) };
  }
}
await client.stop();
console.log(JSON.stringify(out));
"""

run = run_token()
matrix = StoreMatrix(STORES)


def key(name: str) -> str:
    return f"{name}-{run}"


with DaprClient() as client:
    etags: dict[str, dict[str, str]] = {}

    def python_saves(store: str) -> None:
        etags[store] = {}
        for name, (data, _) in FROM_PYTHON.items():
            client.save_state(store, key(name), data)
            etags[store][name] = str(client.get_state(store, key(name)).etag)
        print(f"ok: saved {sorted(FROM_PYTHON)} over gRPC")

    matrix.step("Python SDK saves over gRPC", python_saves)

    names = list(FROM_PYTHON)
    js = run_js(
        JS_SIDE,
        {
            "CROSS_PROTOCOL": json.dumps(
                {
                    "stores": [s for s in STORES if s not in matrix.failures],
                    "keys": [key(n) for n in names],
                    "writes": {key(n): v for n, v in FROM_JS.items()},
                }
            )
        },
    )

    def js_reads(store: str) -> None:
        result = js[store]
        expect("the JS side worked", "error" not in result, result.get("error"))
        for name in names:
            expect_equal(f"JS state.get of {name}", result["get"][key(name)], FROM_PYTHON[name][1])
        expect_equal(
            "JS re-serialises the document byte for byte",
            result["stringified"].encode(),
            FROM_PYTHON["doc"][0],
        )
        bulk = result["bulk"]
        expect_equal("JS getBulk keys", [e["key"] for e in bulk], [key(n) for n in names])
        expect_equal(
            "JS getBulk data", [e.get("data") for e in bulk], [FROM_PYTHON[n][1] for n in names]
        )
        expect_equal(
            "JS getBulk etags match the gRPC etags",
            [e.get("etag") for e in bulk],
            [etags[store][n] for n in names],
        )

    def python_reads(store: str) -> None:
        serialised = js[store]["serialised"]
        for name, value in FROM_JS.items():
            data = client.get_state(store, key(name)).data
            expect_equal(
                f"Python reads {name} as the JS app's JSON", data, serialised[key(name)].encode()
            )
            expect_equal(f"{name} decodes to the value", json.loads(data), value)

    def clean_up(store: str) -> None:
        for name in [*FROM_PYTHON, *FROM_JS]:
            client.delete_state(store, key(name))

    matrix.step("JS SDK reads over HTTP", js_reads)
    matrix.step("Python SDK reads what JS saved over HTTP", python_reads)
    matrix.step("clean up", clean_up)

matrix.finish()
