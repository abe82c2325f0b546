// Small helpers shared by the JavaScript acceptance scenarios.
//
// Scenarios read the environment `dapr run` gives an app (DAPR_HTTP_PORT, DAPR_GRPC_PORT, APP_ID,
// ...) and, when the runner runs them once per protocol, ACCEPTANCE_PROTOCOL (http or grpc).
import { randomUUID } from "node:crypto";

import { CommunicationProtocolEnum, DaprClient } from "@dapr/dapr";

export function env(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`the runner did not set ${name}`);
  }
  return value;
}

// The protocol this run exercises and the port of Mecha's API that speaks it.
export function transport() {
  const protocol = env("ACCEPTANCE_PROTOCOL");
  if (protocol === "grpc") {
    return { protocol, enum: CommunicationProtocolEnum.GRPC, port: env("DAPR_GRPC_PORT") };
  }
  if (protocol === "http") {
    return { protocol, enum: CommunicationProtocolEnum.HTTP, port: env("DAPR_HTTP_PORT") };
  }
  throw new Error(`unknown ACCEPTANCE_PROTOCOL ${protocol}`);
}

// A client configured the way an app would configure it, over this run's protocol.
export function newClient(options = {}) {
  const { enum: communicationProtocol, port } = transport();
  return new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: port,
    communicationProtocol,
    ...options,
  });
}

export function expectEqual(what, actual, expected) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) {
    throw new Error(`${what}: expected ${e}, got ${a}`);
  }
  console.log(`ok: ${what} = ${a}`);
}

export function expect(what, condition, context) {
  if (!condition) {
    throw new Error(`${what} does not hold (context: ${JSON.stringify(context)})`);
  }
  console.log(`ok: ${what}`);
}

// A short id unique to this run, so keys and query filters never see earlier runs' data.
export function runToken() {
  return randomUUID().replaceAll("-", "").slice(0, 12);
}

// gRPC status codes (google.rpc.Code numbering), as the gRPC client's errors carry them.
export const GrpcCode = Object.freeze({
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  ABORTED: 10,
  INTERNAL: 13,
});

// The failure an SDK call ends in, or null when it succeeds. The HTTP client's state.save and
// state.delete return `{ error }` instead of throwing; every other call throws.
export async function failureOf(promise) {
  let result;
  try {
    result = await promise;
  } catch (error) {
    return error;
  }
  return result?.error ?? null;
}

// What a failure says about the sidecar's answer. The HTTP client throws an Error whose message is
// JSON {error, error_msg, status}, error_msg being Dapr's {errorCode, message} body; the gRPC
// client throws a ConnectError with a numeric `code`.
export function describeFailure(error) {
  if (typeof error?.code === "number") {
    return { grpcCode: error.code, message: error.rawMessage ?? error.message };
  }
  let outer;
  try {
    outer = JSON.parse(error?.message);
  } catch {
    return { message: String(error) };
  }
  let body = {};
  try {
    body = JSON.parse(outer.error_msg);
  } catch {
    // not Dapr's error shape; the status alone says enough
  }
  return {
    httpStatus: outer.status,
    errorCode: body.errorCode,
    message: body.message ?? outer.error_msg,
  };
}

// Await a call that must fail; `expected` maps this run's protocol to the HTTP status (http) or
// gRPC code (grpc) the answer must carry, or to a list of acceptable ones.
export async function expectFailure(what, promise, expected) {
  const error = await failureOf(promise);
  if (error === null) {
    throw new Error(`${what}: expected a failure, the call succeeded`);
  }
  const failure = describeFailure(error);
  const { protocol } = transport();
  const got = protocol === "http" ? failure.httpStatus : failure.grpcCode;
  const allowed = [expected[protocol]].flat();
  if (!allowed.includes(got)) {
    const wanted = `${protocol} ${allowed.join(" or ")}`;
    throw new Error(`${what}: expected ${wanted}, got ${JSON.stringify(failure)}`);
  }
  console.log(`ok: ${what} fails with ${protocol} ${got} (${failure.message})`);
  return failure;
}

// Runs a scenario's steps against several stores, so that one broken store hides no other. A
// store whose step fails is skipped in later steps; `finish` prints one line per store and sets a
// failing exit code if any store failed.
export class StoreMatrix {
  constructor(stores) {
    this.stores = [...stores];
    this.failures = new Map();
  }

  async step(what, check, only = null) {
    for (const store of this.stores) {
      if (this.failures.has(store) || (only !== null && !only.includes(store))) {
        continue;
      }
      console.log(`--- [${store}] ${what}`);
      try {
        await check(store);
      } catch (error) {
        this.failures.set(store, `${what}: ${error?.stack ?? error}`);
        console.log(`FAILED [${store}] ${this.failures.get(store)}`);
      }
    }
  }

  finish() {
    console.log("=== per store");
    for (const store of this.stores) {
      const failure = this.failures.get(store);
      console.log(`${failure ? "FAIL" : "PASS"} ${store}`);
      if (failure) {
        console.log(`     ${failure.split("\n")[0]}`);
      }
    }
    if (this.failures.size > 0) {
      const stores = [...this.failures.keys()].join(", ");
      console.error(`failed on ${this.failures.size} store(s): ${stores}`);
      process.exitCode = 1;
    }
  }
}

// Poll until `predicate` (which may be async) holds; fail with `what` at the deadline.
export async function waitUntil(what, predicate, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) {
      throw new Error(`${what}: still not true after ${timeoutMs / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log(`ok: ${what}`);
}

// The app id of the scenario's `@peer` runtime.
export function peerAppId() {
  return env("PEER_APP_ID");
}
