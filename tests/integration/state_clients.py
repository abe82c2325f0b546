"""One state client interface over Mecha's HTTP and gRPC APIs, so each scenario is written once.

Values are JSON-able Python objects: HTTP sends them as JSON, gRPC as their JSON bytes, so both
store the same bytes. Errors become ApiError with a protocol-neutral `kind`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import grpc
import orjson
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import state_pb2

from tests.integration.mecha_process import MechaProcess, dapr_stub

_HTTP_KINDS = {400: "invalid", 404: "not-found", 409: "conflict", 500: "failed"}
_GRPC_KINDS = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid",
    grpc.StatusCode.NOT_FOUND: "not-found",
    grpc.StatusCode.ABORTED: "conflict",
    grpc.StatusCode.INTERNAL: "failed",
    grpc.StatusCode.FAILED_PRECONDITION: "failed",
    grpc.StatusCode.UNIMPLEMENTED: "unsupported",
}


class ApiError(Exception):
    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Got:
    value: Any
    etag: str | None


@dataclass(frozen=True)
class Save:
    key: str
    value: Any
    etag: str | None = None
    first_write: bool = False
    metadata: dict[str, str] | None = None


class StateClient(Protocol):
    def save(self, store: str, items: list[Save]) -> None: ...
    def get(self, store: str, key: str) -> Got | None: ...
    def get_raw(self, store: str, key: str) -> bytes | None: ...
    def delete(self, store: str, key: str, etag: str | None = None) -> None: ...
    def bulk_get(self, store: str, keys: list[str]) -> list[tuple[str, Any]]: ...
    def transact(self, store: str, operations: list[tuple[str, Save]]) -> None: ...
    def query(self, store: str, query: dict[str, Any]) -> tuple[list[tuple[str, Any]], str]: ...


class HttpStateClient:
    def __init__(self, process: MechaProcess) -> None:
        self._process = process

    def _call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        data = None if body is None else orjson.dumps(body)
        status, got_headers, reply = self._process.request(method, path, data, headers)
        if status >= 400:
            detail = orjson.loads(reply)
            raise ApiError(_HTTP_KINDS.get(status, str(status)), f"{detail['errorCode']} {detail}")
        return status, got_headers, reply

    def save(self, store: str, items: list[Save]) -> None:
        body = []
        for item in items:
            entry: dict[str, Any] = {"key": item.key, "value": item.value}
            if item.etag is not None:
                entry["etag"] = item.etag
            if item.first_write:
                entry["options"] = {"concurrency": "first-write"}
            if item.metadata:
                entry["metadata"] = item.metadata
            body.append(entry)
        self._call("POST", f"/v1.0/state/{store}", body)

    def get_raw(self, store: str, key: str) -> bytes | None:
        status, _, reply = self._call("GET", f"/v1.0/state/{store}/{quote(key, safe='')}")
        return None if status == 204 else reply

    def get(self, store: str, key: str) -> Got | None:
        status, headers, reply = self._call("GET", f"/v1.0/state/{store}/{quote(key, safe='')}")
        if status == 204:
            return None
        return Got(orjson.loads(reply), headers.get("etag"))

    def delete(self, store: str, key: str, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag is not None else None
        self._call("DELETE", f"/v1.0/state/{store}/{quote(key, safe='')}", headers=headers)

    def bulk_get(self, store: str, keys: list[str]) -> list[tuple[str, Any]]:
        _, _, reply = self._call("POST", f"/v1.0/state/{store}/bulk", {"keys": keys})
        return [(entry["key"], entry.get("data")) for entry in orjson.loads(reply)]

    def transact(self, store: str, operations: list[tuple[str, Save]]) -> None:
        ops = []
        for kind, item in operations:
            request: dict[str, Any] = {"key": item.key}
            if kind == "upsert":
                request["value"] = item.value
            if item.etag is not None:
                request["etag"] = item.etag
            ops.append({"operation": kind, "request": request})
        self._call("POST", f"/v1.0/state/{store}/transaction", {"operations": ops})

    def query(self, store: str, query: dict[str, Any]) -> tuple[list[tuple[str, Any]], str]:
        status, _, reply = self._call("POST", f"/v1.0-alpha1/state/{store}/query", query)
        if status == 204:
            return [], ""
        body = orjson.loads(reply)
        return [(r["key"], r["data"]) for r in body["results"]], body.get("token", "")


class GrpcStateClient:
    def __init__(self, process: MechaProcess) -> None:
        self._channel = grpc.insecure_channel(f"127.0.0.1:{process.grpc_port}")
        self._stub = dapr_stub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=10)
        except grpc.RpcError as error:
            code = error.code()
            raise ApiError(_GRPC_KINDS.get(code, str(code)), error.details() or "") from None

    @staticmethod
    def _item(item: Save, with_value: bool = True) -> common_pb2.StateItem:
        state = common_pb2.StateItem(key=item.key, metadata=item.metadata or {})
        if with_value:
            state.value = orjson.dumps(item.value)
        if item.etag is not None:
            state.etag.value = item.etag
        if item.first_write:
            state.options.concurrency = common_pb2.StateOptions.CONCURRENCY_FIRST_WRITE
        return state

    def save(self, store: str, items: list[Save]) -> None:
        self._call(
            "SaveState",
            state_pb2.SaveStateRequest(store_name=store, states=[self._item(i) for i in items]),
        )

    def get_raw(self, store: str, key: str) -> bytes | None:
        reply = self._call("GetState", state_pb2.GetStateRequest(store_name=store, key=key))
        return bytes(reply.data) if reply.data or reply.etag else None

    def get(self, store: str, key: str) -> Got | None:
        reply = self._call("GetState", state_pb2.GetStateRequest(store_name=store, key=key))
        if not reply.data and not reply.etag:
            return None
        return Got(orjson.loads(reply.data), reply.etag or None)

    def delete(self, store: str, key: str, etag: str | None = None) -> None:
        request = state_pb2.DeleteStateRequest(store_name=store, key=key)
        if etag is not None:
            request.etag.value = etag
        self._call("DeleteState", request)

    def bulk_get(self, store: str, keys: list[str]) -> list[tuple[str, Any]]:
        reply = self._call(
            "GetBulkState", state_pb2.GetBulkStateRequest(store_name=store, keys=keys)
        )
        return [(i.key, orjson.loads(i.data) if i.data else None) for i in reply.items]

    def transact(self, store: str, operations: list[tuple[str, Save]]) -> None:
        ops = [
            state_pb2.TransactionalStateOperation(
                operationType=kind, request=self._item(item, with_value=kind == "upsert")
            )
            for kind, item in operations
        ]
        self._call(
            "ExecuteStateTransaction",
            state_pb2.ExecuteStateTransactionRequest(storeName=store, operations=ops),
        )

    def query(self, store: str, query: dict[str, Any]) -> tuple[list[tuple[str, Any]], str]:
        reply = self._call(
            "QueryStateAlpha1",
            state_pb2.QueryStateRequest(store_name=store, query=orjson.dumps(query).decode()),
        )
        return [(r.key, orjson.loads(r.data)) for r in reply.results], reply.token
