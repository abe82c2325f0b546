# `mecha run ... -- CMD` launches the app as `dapr run` does: the app gets APP_ID, APP_PORT,
# DAPR_HTTP_PORT and DAPR_GRPC_PORT, /v1.0/healthz turns 204 once the app port answers, and the
# metadata API reports the app's port. (The runner then checks mecha stops the app with itself.)
#
# @app {python} {dir}/../apps/env_app.py
import json
import urllib.request

from tests.acceptance.python.support import (
    app_id,
    env,
    expect_equal,
    grpc_port,
    http_call,
    http_port,
)

app_port = env("APP_PORT")
with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/env", timeout=5) as response:
    app_env = json.load(response)
print(f"the app's environment: {app_env}")

expect_equal("APP_ID given to the app", app_env["APP_ID"], app_id())
expect_equal("APP_PORT given to the app", app_env["APP_PORT"], app_port)
expect_equal("DAPR_HTTP_PORT given to the app", app_env["DAPR_HTTP_PORT"], str(http_port()))
expect_equal("DAPR_GRPC_PORT given to the app", app_env["DAPR_GRPC_PORT"], str(grpc_port()))

status, _ = http_call("GET", "/v1.0/healthz")
expect_equal("GET /v1.0/healthz with the app up", status, 204)
status, body = http_call("GET", "/v1.0/metadata")
expect_equal("GET /v1.0/metadata", status, 200)
connection = json.loads(body).get("appConnectionProperties", {})
expect_equal("app port in the metadata", connection.get("port"), int(app_port))
