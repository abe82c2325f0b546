// JS SDK `client.invoker.invoke` over HTTP and gRPC through two runtimes to an HTTP app built
// with the JS SDK's `DaprServer` and `server.invoker.listen` (js/apps/invoke_app.mjs): the app's
// handler gets the JSON body, content type and the runtimes' dapr-* headers (the caller's app
// id, the app token), a GET handler answers too, and a method the app does not serve comes back
// as the app's 404 (HTTP) or NOT_FOUND (gRPC, as Dapr maps the status).
//
// @protocols http grpc
// @peer invoke-js-target
// @peer-app {node} {dir}/../apps/invoke_app.mjs
// @peer-env APP_API_TOKEN=app-secret
import { HttpMethod } from "@dapr/dapr";

import {
  GrpcCode,
  env,
  expect,
  expectEqual,
  expectFailure,
  newClient,
  peerAppId,
  transport,
} from "../lib/support.mjs";

const target = peerAppId();
const { protocol } = transport();
const client = newClient();
await client.start();

const order = { id: 42, item: "book", tags: ["new", "olá"] };
const answer = await client.invoker.invoke(target, "orders", HttpMethod.POST, order);
console.log(`the app answered ${JSON.stringify(answer)}`);
expectEqual("handler", answer.handler, "POST orders");
expectEqual("body the handler parsed", answer.received, order);
expectEqual("URL the app saw", answer.url, "/orders");
expectEqual("content type the app saw", answer.contentType, "application/json");
expectEqual("dapr-caller-app-id", answer.headers["dapr-caller-app-id"], env("APP_ID"));
expectEqual("dapr-callee-app-id", answer.headers["dapr-callee-app-id"], target);
expectEqual("the app's token reaches the app", answer.headers["dapr-api-token"], "app-secret");
expect("a trace context reaches the app", Boolean(answer.headers.traceparent), answer.headers);

const stock = await client.invoker.invoke(target, "stock", HttpMethod.GET);
expectEqual("GET handler's answer", stock, { handler: "GET stock", items: 3 });

await expectFailure(
  `a method the app does not serve (${protocol})`,
  client.invoker.invoke(target, "returns", HttpMethod.POST, { id: 1 }),
  { http: 404, grpc: GrpcCode.NOT_FOUND },
);

await client.stop();
