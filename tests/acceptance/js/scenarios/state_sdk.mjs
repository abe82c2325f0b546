// JS SDK `client.state.*` over HTTP and gRPC against every state store type: JSON values
// (objects, strings, numbers, booleans, arrays) round-trip as the SDK's user expects, getBulk
// keeps order and reports missing keys, etags guard save and delete, transactions apply whole or
// not at all, the query API works where the store declares it, TTLs expire and keys with `||`
// are refused. Each store runs the same steps; the output ends with PASS/FAIL per store.
//
// @protocols http grpc
// @timeout 60
// @resource memory.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: memory
//   spec:
//     type: state.in-memory
//     version: v1
// @resource sqlite.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: sqlite
//   spec:
//     type: state.sqlite
//     version: v1
//     metadata:
//       - name: connectionString
//         value: state.db
// @resource redis.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: redis
//   spec:
//     type: state.redis
//     version: v1
//     metadata:
//       - name: redisHost
//         value: 127.0.0.1:6379
// @resource postgres.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: postgres
//   spec:
//     type: state.postgresql
//     version: v1
//     metadata:
//       - name: connectionString
//         value: "host=127.0.0.1 port=5432 user=postgres dbname=test"
//       - name: tableName
//         value: acceptance_state
//       - name: metadataTableName
//         value: acceptance_state_metadata
// @resource mysql.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: mysql
//   spec:
//     type: state.mysql
//     version: v1
//     metadata:
//       - name: connectionString
//         value: "root:@tcp(127.0.0.1:3306)/?parseTime=true"
//       - name: schemaName
//         value: acceptance
//       - name: tableName
//         value: state
import { StateConcurrencyEnum } from "@dapr/dapr";

import {
  GrpcCode,
  StoreMatrix,
  expect,
  expectEqual,
  expectFailure,
  newClient,
  runToken,
  transport,
  waitUntil,
} from "../lib/support.mjs";

const STORES = ["memory", "sqlite", "redis", "postgres", "mysql"];
const QUERYABLE = ["memory", "sqlite", "postgres", "mysql"]; // the stores that declare the query API
const ETAG_MISMATCH = { http: 409, grpc: GrpcCode.ABORTED };
// daprd answers any failed transaction with 500 / INTERNAL, an etag mismatch included; 409 /
// ABORTED says the same more precisely. Either tells the app nothing was applied.
const TRANSACTION_ETAG_MISMATCH = {
  http: [409, 500],
  grpc: [GrpcCode.ABORTED, GrpcCode.INTERNAL],
};

const { protocol } = transport();
const run = runToken();
const key = (name) => `${name}-${run}`;
const client = newClient();
await client.start();
const matrix = new StoreMatrix(STORES);

// The value and etag a key holds, read with getBulk (state.get returns the value alone).
async function read(store, name) {
  const [entry] = await client.state.getBulk(store, [key(name)]);
  expectEqual(`getBulk answers for ${name}`, entry.key, key(name));
  return entry;
}

async function expectValue(store, name, expected) {
  expectEqual(`value of ${name}`, await client.state.get(store, key(name)), expected);
}

async function save(store, name, value, extra = {}) {
  const outcome = await client.state.save(store, [{ key: key(name), value, ...extra }]);
  expect(`save of ${name} succeeds`, !outcome?.error, String(outcome?.error));
}

// Query results carry parsed JSON over HTTP and the stored bytes over gRPC.
function queryData(data) {
  return data instanceof Uint8Array ? JSON.parse(Buffer.from(data).toString("utf8")) : data;
}

const VALUES = {
  object: { name: "Ada", langs: ["en", "pt"], nested: { ok: true, none: null }, pi: 3.14 },
  unicode: { text: "olá ✓ 你好" },
  string: "hello world",
  integer: 42,
  negative: -7.5,
  boolean: true,
  array: [1, "two", { three: 3 }],
};

async function ttlSave(store) {
  await save(store, "ttl-item", "short-lived", { metadata: { ttlInSeconds: "1" } });
  const outcome = await client.state.save(store, [{ key: key("ttl-request"), value: "short" }], {
    metadata: { ttlInSeconds: "1" },
  });
  expect("save with request-level TTL metadata succeeds", !outcome?.error, String(outcome?.error));
  await expectValue(store, "ttl-item", "short-lived");
  await expectValue(store, "ttl-request", "short");
}

async function jsonRoundTrip(store) {
  const items = Object.entries(VALUES).map(([name, value]) => ({ key: key(name), value }));
  const outcome = await client.state.save(store, items);
  expect("bulk save of JSON values succeeds", !outcome?.error, String(outcome?.error));
  for (const [name, value] of Object.entries(VALUES)) {
    await expectValue(store, name, value);
  }
  expectEqual("get of a key never written", await client.state.get(store, key("never")), "");
  const before = (await read(store, "object")).etag;
  await save(store, "object", { ...VALUES.object, pi: 3.1416 });
  await expectValue(store, "object", { ...VALUES.object, pi: 3.1416 });
  const after = (await read(store, "object")).etag;
  expect("etags are strings", typeof before === "string" && before !== "", before);
  expect("a write changes the etag", before !== after, [before, after]);
}

async function bulk(store) {
  const asked = ["string", "missing", "object", "integer"].map(key);
  const entries = await client.state.getBulk(store, asked);
  expectEqual("getBulk keys, in the order asked", entries.map((e) => e.key), asked);
  expectEqual(
    "getBulk values",
    [entries[0].data, entries[2].data, entries[3].data],
    [VALUES.string, { ...VALUES.object, pi: 3.1416 }, VALUES.integer],
  );
  // A missing key comes back as {key} over HTTP and {key, data: "", etag: ""} over gRPC.
  expect("a missing key has no data", [undefined, ""].includes(entries[1].data), entries[1]);
  expect("a missing key has no etag", !entries[1].etag, entries[1]);
  expect("present keys have etags", [0, 2, 3].every((i) => entries[i].etag), entries);
}

async function etags(store) {
  await save(store, "occ", { version: 1 });
  const stale = (await read(store, "occ")).etag;
  await save(store, "occ", { version: 2 }, { etag: stale });
  const current = (await read(store, "occ")).etag;
  await expectFailure(
    "save with a stale etag",
    client.state.save(store, [{ key: key("occ"), value: { version: 3 }, etag: stale }]),
    ETAG_MISMATCH,
  );
  await expectValue(store, "occ", { version: 2 });
  const firstWrite = { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE };
  await expectFailure(
    "first-write save with a stale etag",
    client.state.save(store, [
      { key: key("occ"), value: { version: 3 }, etag: stale, options: firstWrite },
    ]),
    ETAG_MISMATCH,
  );
  await save(store, "occ", { version: 3 }, { etag: current, options: firstWrite });
  await expectValue(store, "occ", { version: 3 });
}

async function deletes(store) {
  await save(store, "del", "first");
  const stale = (await read(store, "del")).etag;
  await save(store, "del", "second");
  const current = (await read(store, "del")).etag;
  await expectFailure(
    "delete with a stale etag",
    client.state.delete(store, key("del"), { etag: stale }),
    ETAG_MISMATCH,
  );
  await expectValue(store, "del", "second");
  const outcome = await client.state.delete(store, key("del"), { etag: current });
  expect("delete with the current etag succeeds", !outcome?.error, String(outcome?.error));
  await expectValue(store, "del", "");
  const again = await client.state.delete(store, key("del"));
  expect("deleting a missing key succeeds", !again?.error, String(again?.error));
}

async function transaction(store) {
  await save(store, "tx-a", "one");
  await save(store, "tx-b", "two");
  const operations = [
    { operation: "upsert", request: { key: key("tx-a"), value: "ten" } },
    { operation: "delete", request: { key: key("tx-b") } },
    { operation: "upsert", request: { key: key("tx-c"), value: "thirty" } },
  ];
  if (protocol === "http") {
    // The gRPC client sends string values only (it passes the value to Buffer.from).
    operations.push({ operation: "upsert", request: { key: key("tx-d"), value: { n: 40 } } });
  }
  await client.state.transaction(store, operations);
  await expectValue(store, "tx-a", "ten");
  await expectValue(store, "tx-b", "");
  await expectValue(store, "tx-c", "thirty");
  if (protocol === "http") {
    await expectValue(store, "tx-d", { n: 40 });
  }
  const stale = (await read(store, "tx-c")).etag;
  await save(store, "tx-c", "thirty-one");
  for (const [label, last] of [
    ["an upsert", { operation: "upsert", request: { key: key("tx-c"), value: "x", etag: stale } }],
    ["a delete", { operation: "delete", request: { key: key("tx-c"), etag: stale } }],
  ]) {
    await expectFailure(
      `transaction with a stale etag on ${label}`,
      client.state.transaction(store, [
        { operation: "upsert", request: { key: key("tx-a"), value: "changed" } },
        last,
      ]),
      TRANSACTION_ETAG_MISMATCH,
    );
    await expectValue(store, "tx-a", "ten");
    await expectValue(store, "tx-c", "thirty-one");
  }
}

const PEOPLE = {
  ana: { run, city: "Lisbon", age: 31 },
  bruno: { run, city: "Porto", age: 27 },
  carla: { run, city: "Lisbon", age: 45 },
  duarte: { run, city: "Lisbon", age: 19 },
};

async function query(store) {
  const items = Object.entries(PEOPLE).map(([name, value]) => ({ key: key(`q-${name}`), value }));
  const outcome = await client.state.save(store, items);
  expect("save of the documents succeeds", !outcome?.error, String(outcome?.error));
  const lisbon = await client.state.query(store, {
    filter: { AND: [{ EQ: { run } }, { EQ: { city: "Lisbon" } }] },
    sort: [{ key: "age", order: "DESC" }],
  });
  expectEqual(
    "people in Lisbon, oldest first",
    lisbon.results.map((r) => r.key),
    ["carla", "ana", "duarte"].map((n) => key(`q-${n}`)),
  );
  expectEqual(
    "their documents",
    lisbon.results.map((r) => queryData(r.data)),
    [PEOPLE.carla, PEOPLE.ana, PEOPLE.duarte],
  );
  expect("results carry etags", lisbon.results.every((r) => r.etag), lisbon.results);
  const first = await client.state.query(store, {
    filter: { EQ: { run } },
    sort: [{ key: "age" }],
    page: { limit: 3 },
  });
  expectEqual(
    "first page, youngest first",
    first.results.map((r) => r.key),
    ["duarte", "bruno", "ana"].map((n) => key(`q-${n}`)),
  );
  expect("a full page carries a token", Boolean(first.token), first);
  const second = await client.state.query(store, {
    filter: { EQ: { run } },
    sort: [{ key: "age" }],
    page: { limit: 3, token: first.token },
  });
  expectEqual("second page", second.results.map((r) => r.key), [key("q-carla")]);
  const none = await client.state.query(store, { filter: { EQ: { run: `${run}-nobody` } } });
  expectEqual("a query matching nothing", none.results, []);
}

async function queryUnsupported(store) {
  const failure = await expectFailure(
    "query on a store without the query API",
    client.state.query(store, { filter: { EQ: { run } } }),
    { http: 500, grpc: GrpcCode.INTERNAL },
  );
  if (protocol === "http") {
    expectEqual("error code", failure.errorCode, "ERR_STATE_STORE_NOT_SUPPORTED");
  }
}

async function illegalKeys(store) {
  const illegal = { http: 400, grpc: GrpcCode.INVALID_ARGUMENT };
  for (const [label, call] of [
    ["save", () => client.state.save(store, [{ key: "bad||key", value: "x" }])],
    ["get", () => client.state.get(store, "bad||key")],
    ["delete", () => client.state.delete(store, "bad||key")],
  ]) {
    const failure = await expectFailure(`${label} of a key with ||`, call(), illegal);
    if (protocol === "http") {
      expectEqual(`${label}: error code`, failure.errorCode, "ERR_STATE_ILLEGAL_KEY");
    }
  }
}

async function ttlExpired(store) {
  for (const name of ["ttl-item", "ttl-request"]) {
    await waitUntil(
      `${name} expired`,
      async () => (await client.state.get(store, key(name))) === "",
    );
  }
}

async function cleanUp(store) {
  const names = [...Object.keys(VALUES), "occ", "tx-a", "tx-c", "tx-d"];
  names.push(...Object.keys(PEOPLE).map((n) => `q-${n}`));
  for (const name of names) {
    await client.state.delete(store, key(name));
  }
}

await matrix.step("save with 1 s TTLs", ttlSave);
await matrix.step("JSON values round trip", jsonRoundTrip);
await matrix.step("getBulk", bulk);
await matrix.step("etags on save", etags);
await matrix.step("delete", deletes);
await matrix.step("transaction", transaction);
await matrix.step("query", query, QUERYABLE);
await matrix.step(
  "query unsupported",
  queryUnsupported,
  STORES.filter((s) => !QUERYABLE.includes(s)),
);
await matrix.step("illegal keys", illegalKeys);
await matrix.step("TTL expiry", ttlExpired);
await matrix.step("clean up", cleanUp);
await client.stop();
matrix.finish();
