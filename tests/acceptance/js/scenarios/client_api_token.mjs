// JS SDK with DAPR_API_TOKEN set in both mecha and the app: the client picks the token up from
// the environment, sends it (HTTP header / gRPC metadata `dapr-api-token`) and works.
//
// @protocols http grpc
// @env DAPR_API_TOKEN=acceptance-secret-token
import { env, expectEqual, newClient } from "../lib/support.mjs";

const client = newClient();
await client.start();
const metadata = await client.metadata.get();
await client.stop();

expectEqual("application id (with token)", metadata.id, env("APP_ID"));
