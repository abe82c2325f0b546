// An HTTP app built with the JS SDK's `DaprServer`, for mecha to launch (`-- node invoke_app.mjs`).
//
// It answers service invocations through `server.invoker.listen`:
//   POST /orders  answers what the handler was given: the body it parsed, the URL, the content
//                 type and the headers the runtimes add (dapr-caller-app-id, dapr-api-token, ...);
//   GET /stock    answers a fixed JSON document, so a scenario can check a second verb.
// Other paths answer 404, as any Express app does.
import { CommunicationProtocolEnum, DaprServer, HttpMethod } from "@dapr/dapr";

const DAPR_HEADERS = ["dapr-caller-app-id", "dapr-callee-app-id", "dapr-api-token", "traceparent"];

const server = new DaprServer({
  serverHost: "127.0.0.1",
  serverPort: process.env.APP_PORT,
  communicationProtocol: CommunicationProtocolEnum.HTTP,
  clientOptions: {
    daprHost: "127.0.0.1",
    daprPort: process.env.DAPR_HTTP_PORT,
    communicationProtocol: CommunicationProtocolEnum.HTTP,
  },
});

await server.invoker.listen(
  "orders",
  async ({ body, query, metadata, headers }) => ({
    handler: "POST orders",
    received: JSON.parse(body),
    url: query,
    contentType: metadata.contentType,
    headers: Object.fromEntries(DAPR_HEADERS.map((name) => [name, headers[name] ?? null])),
  }),
  { method: HttpMethod.POST },
);
await server.invoker.listen("stock", async () => ({ handler: "GET stock", items: 3 }), {
  method: HttpMethod.GET,
});

process.on("SIGTERM", async () => {
  await server.stop();
  process.exit(0);
});

await server.start();
console.log(`invoke_app: serving on ${process.env.APP_PORT}`);
