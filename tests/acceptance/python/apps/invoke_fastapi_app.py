"""An HTTP app built with FastAPI and served by uvicorn, for mecha to launch.

It wires in the SDK's FastAPI extension (`dapr.ext.fastapi.DaprApp`, which serves
`/dapr/subscribe`) as such an app would, and answers service invocations:

- `/echo/{path}` (GET, POST, PUT, PATCH, DELETE) answers JSON saying what the app saw: verb,
  path, raw query string, headers and body, with a response header of its own;
- `/status/{code}` answers that status with a plain-text body, so a scenario can check that
  the app's own non-2xx answers pass through unchanged.
"""

from __future__ import annotations

import os

# The SDK's venv has FastAPI and uvicorn; Mecha's venv, which type-checks this file, does not.
import uvicorn  # type: ignore[import-not-found,unused-ignore]
from dapr.ext.fastapi import DaprApp
from fastapi import FastAPI, Request  # type: ignore[import-not-found,unused-ignore]
from fastapi.responses import (  # type: ignore[import-not-found,unused-ignore]
    JSONResponse,
    PlainTextResponse,
)

ANSWER_HEADER = {"x-app-answer": "fastapi"}

app = FastAPI()
DaprApp(app)


async def echo(request: Request, path: str) -> JSONResponse:
    body = await request.body()
    seen = {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": dict(request.headers),
        "body": body.decode(),
    }
    return JSONResponse(seen, headers=ANSWER_HEADER)


async def status(code: int) -> PlainTextResponse:
    return PlainTextResponse(f"app says {code}", status_code=code, headers=ANSWER_HEADER)


app.add_api_route("/echo/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
app.add_api_route("/status/{code}", status, methods=["GET", "POST"])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["APP_PORT"]), log_level="warning")
