// JS SDK: `await client.start()` waits for the sidecar (HTTP: GET /v1.0/metadata until it answers
// 2xx/3xx with a body; gRPC: GetMetadata until it succeeds), then `client.metadata.get()` reports
// this app's id, the runtime version and the declared component.
//
// @protocols http grpc
// @resource statestore.yaml
//   apiVersion: dapr.io/v1alpha1
//   kind: Component
//   metadata:
//     name: statestore
//   spec:
//     type: state.in-memory
//     version: v1
import { env, expect, expectEqual, newClient } from "../lib/support.mjs";

const client = newClient();
await client.start();
const metadata = await client.metadata.get();
await client.stop();

expectEqual("application id", metadata.id, env("APP_ID"));
const version = metadata.extended?.daprRuntimeVersion;
expect("the runtime reports its version", typeof version === "string" && version !== "", metadata);
const statestore = (metadata.components ?? []).find((c) => c.name === "statestore");
expect("component 'statestore' is registered", statestore !== undefined, metadata.components);
expectEqual("statestore type", statestore.type, "state.in-memory");
expectEqual("statestore version", statestore.version, "v1");
