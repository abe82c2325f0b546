"""HTTP state routes: decode Dapr's JSON shapes → StateService → encode."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

import orjson

from mecha.api.http.router import Call
from mecha.blocks.state import querylang
from mecha.blocks.state.models import (
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    Item,
    Operation,
    SetRequest,
)
from mecha.errors import ErrorCode, MechaError
from mecha.http1 import Response

_METADATA_PREFIX: Final = "metadata."
_JSON: Final = "application/json"


# ---- decoding ------------------------------------------------------------------------------------


def _query_params(call: Call) -> dict[str, str]:
    return dict(parse_qsl(call.request.query, keep_blank_values=True)) if call.request.query else {}


def _metadata(params: Mapping[str, str]) -> dict[str, str]:
    return {
        k[len(_METADATA_PREFIX) :]: v for k, v in params.items() if k.startswith(_METADATA_PREFIX)
    }


def _body(call: Call) -> Any:
    try:
        return orjson.loads(call.request.body)
    except orjson.JSONDecodeError as error:
        raise MechaError(
            ErrorCode.MALFORMED_REQUEST, f"failed deserializing HTTP body: {error}"
        ) from None


def _malformed(message: str) -> MechaError:
    return MechaError(ErrorCode.MALFORMED_REQUEST, message)


def _string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _malformed(f"{what} must be an object of strings")
    result = {}
    for key, item in value.items():
        if isinstance(item, str):
            result[key] = item
        elif isinstance(item, bool):
            result[key] = "true" if item else "false"
        elif isinstance(item, (int, float)):
            result[key] = str(item)
        else:
            raise _malformed(f"{what}.{key} must be a string")
    return result


def _enum(enum: type[Concurrency] | type[Consistency], value: Any, what: str) -> Any:
    if value in (None, ""):
        return None
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise _malformed(f"{what} must be one of {allowed}, not {value!r}") from None


def _etag(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise _malformed("etag must be a string")


def _set_request(raw: Any, extra_metadata: Mapping[str, str]) -> SetRequest:
    if not isinstance(raw, dict):
        raise _malformed("each state item must be an object")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise _malformed('"key" is a required field')
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise _malformed("options must be an object")
    metadata = {**_string_map(raw.get("metadata"), "metadata"), **extra_metadata}
    value = raw.get("value")
    return SetRequest(
        key=key,
        value=orjson.dumps(value),
        etag=_etag(raw.get("etag")),
        concurrency=_enum(Concurrency, options.get("concurrency"), "concurrency")
        or Concurrency.LAST_WRITE,
        consistency=_enum(Consistency, options.get("consistency"), "consistency")
        or Consistency.EVENTUAL,
        metadata=metadata,
    )


def _delete_request(raw: Any, extra_metadata: Mapping[str, str]) -> DeleteRequest:
    if not isinstance(raw, dict):
        raise _malformed("a delete request must be an object")
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise _malformed('"key" is a required field')
    options = raw.get("options") or {}
    if not isinstance(options, dict):
        raise _malformed("options must be an object")
    return DeleteRequest(
        key=key,
        etag=_etag(raw.get("etag")),
        concurrency=_enum(Concurrency, options.get("concurrency"), "concurrency")
        or Concurrency.LAST_WRITE,
        consistency=_enum(Consistency, options.get("consistency"), "consistency")
        or Consistency.EVENTUAL,
        metadata={**_string_map(raw.get("metadata"), "metadata"), **extra_metadata},
    )


# ---- encoding ------------------------------------------------------------------------------------


def _is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _embedded(data: bytes) -> Any:
    """A stored value inside a JSON reply: raw when it is JSON, else a string (base64 if binary)."""
    if _is_json(data):
        return orjson.Fragment(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")


def _item_response(item: Item) -> Response:
    headers = [(f"metadata.{k}", v) for k, v in item.metadata.items()]
    if item.etag is not None:
        headers.append(("ETag", item.etag))
    content_type = item.content_type or (
        _JSON if _is_json(item.data) else "application/octet-stream"
    )
    return Response(200, item.data, headers, content_type=content_type)


def _json(body: Any, status: int = 200) -> Response:
    return Response(status, orjson.dumps(body), content_type=_JSON)


_NO_CONTENT: Final = Response(204)


# ---- handlers ------------------------------------------------------------------------------------


async def get(call: Call) -> Response:
    params = _query_params(call)
    request = GetRequest(
        key=call.params["key"],
        consistency=_enum(Consistency, params.get("consistency"), "consistency")
        or Consistency.EVENTUAL,
        metadata=_metadata(params),
    )
    item = await call.runtime.state.get(call.app.id, call.params["store"], request)
    if item is None:
        return _NO_CONTENT
    return _item_response(item)


async def save(call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, list):
        raise _malformed("the body must be a JSON array of state items")
    extra = _metadata(_query_params(call))
    requests = [_set_request(raw, extra) for raw in body]
    if requests:
        await call.runtime.state.save(call.app.id, call.params["store"], requests)
    return _NO_CONTENT


async def delete(call: Call) -> Response:
    params = _query_params(call)
    request = DeleteRequest(
        key=call.params["key"],
        etag=call.request.headers.get("if-match"),
        concurrency=_enum(Concurrency, params.get("concurrency"), "concurrency")
        or Concurrency.LAST_WRITE,
        consistency=_enum(Consistency, params.get("consistency"), "consistency")
        or Consistency.EVENTUAL,
        metadata=_metadata(params),
    )
    await call.runtime.state.delete(call.app.id, call.params["store"], request)
    return _NO_CONTENT


async def bulk_get(call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, dict):
        raise _malformed("the body must be a JSON object with keys")
    keys = body.get("keys") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise _malformed("keys must be an array of strings")
    parallelism = body.get("parallelism", 0)
    if not isinstance(parallelism, int) or parallelism < 0:
        raise _malformed("parallelism must be a positive whole number")
    metadata = {**_string_map(body.get("metadata"), "metadata"), **_metadata(_query_params(call))}
    results = await call.runtime.state.bulk_get(call.app.id, call.params["store"], keys, metadata)
    out: list[dict[str, Any]] = []
    for result in results:
        entry: dict[str, Any] = {"key": result.key}
        if result.error:
            entry["error"] = result.error
        elif result.item is not None:
            entry["data"] = _embedded(result.item.data)
            if result.item.etag is not None:
                entry["etag"] = result.item.etag
            if result.item.metadata:
                entry["metadata"] = dict(result.item.metadata)
        out.append(entry)
    return _json(out)


async def transaction(call: Call) -> Response:
    body = _body(call)
    if not isinstance(body, dict):
        raise _malformed("the body must be a JSON object with operations")
    raw_operations = body.get("operations") or []
    if not isinstance(raw_operations, list):
        raise _malformed("operations must be an array")
    extra = {**_string_map(body.get("metadata"), "metadata"), **_metadata(_query_params(call))}
    operations: list[Operation] = []
    for raw in raw_operations:
        if not isinstance(raw, dict):
            raise _malformed("each operation must be an object")
        kind = raw.get("operation")
        if kind == "upsert":
            operations.append(_set_request(raw.get("request"), extra))
        elif kind == "delete":
            operations.append(_delete_request(raw.get("request"), extra))
        else:
            raise MechaError(
                ErrorCode.STATE_OPERATION_NOT_SUPPORTED, f"operation type {kind} not supported"
            )
    await call.runtime.state.transact(call.app.id, call.params["store"], operations, extra)
    return _NO_CONTENT


async def query(call: Call) -> Response:
    request = querylang.parse(_body(call), _metadata(_query_params(call)))
    results, token = await call.runtime.state.query(call.app.id, call.params["store"], request)
    if not results:
        return _NO_CONTENT
    out: dict[str, Any] = {
        "results": [
            {"key": r.key, "data": _embedded(r.data), **({"etag": r.etag} if r.etag else {})}
            for r in results
        ]
    }
    if token:
        out["token"] = token
    return _json(out)
