// Small helpers shared by the JavaScript acceptance scenarios.
//
// Scenarios read the environment `dapr run` gives an app (DAPR_HTTP_PORT, DAPR_GRPC_PORT, APP_ID,
// ...) and, when the runner runs them once per protocol, ACCEPTANCE_PROTOCOL (http or grpc).
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
