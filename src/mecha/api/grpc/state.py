"""gRPC state methods: decode protos → StateService → encode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import orjson
from dapr.proto.common.v1 import common_pb2
from dapr.proto.runtime.v1 import state_pb2
from google.protobuf import empty_pb2

from mecha.blocks.state import querylang
from mecha.blocks.state.models import (
    Concurrency,
    Consistency,
    DeleteRequest,
    GetRequest,
    Operation,
    SetRequest,
)
from mecha.errors import ErrorCode, MechaError

if TYPE_CHECKING:
    from mecha.api.grpc.server import GrpcCall

_Options = common_pb2.StateOptions
_CONCURRENCY: Final = {
    _Options.CONCURRENCY_UNSPECIFIED: Concurrency.LAST_WRITE,
    _Options.CONCURRENCY_FIRST_WRITE: Concurrency.FIRST_WRITE,
    _Options.CONCURRENCY_LAST_WRITE: Concurrency.LAST_WRITE,
}
_CONSISTENCY: Final = {
    _Options.CONSISTENCY_UNSPECIFIED: Consistency.EVENTUAL,
    _Options.CONSISTENCY_EVENTUAL: Consistency.EVENTUAL,
    _Options.CONSISTENCY_STRONG: Consistency.STRONG,
}
_EMPTY: Final = empty_pb2.Empty()


def _etag(item: common_pb2.StateItem | state_pb2.DeleteStateRequest) -> str | None:
    return item.etag.value or None if item.HasField("etag") else None


def _set_request(item: common_pb2.StateItem) -> SetRequest:
    if not item.key:
        raise MechaError(ErrorCode.MALFORMED_REQUEST, "state key cannot be empty")
    options = item.options
    return SetRequest(
        key=item.key,
        value=item.value,
        etag=_etag(item),
        concurrency=_CONCURRENCY.get(options.concurrency, Concurrency.LAST_WRITE),
        consistency=_CONSISTENCY.get(options.consistency, Consistency.EVENTUAL),
        metadata=dict(item.metadata),
    )


def _delete_request(item: common_pb2.StateItem | state_pb2.DeleteStateRequest) -> DeleteRequest:
    if not item.key:
        raise MechaError(ErrorCode.MALFORMED_REQUEST, "state key cannot be empty")
    options = item.options
    return DeleteRequest(
        key=item.key,
        etag=_etag(item),
        concurrency=_CONCURRENCY.get(options.concurrency, Concurrency.LAST_WRITE),
        consistency=_CONSISTENCY.get(options.consistency, Consistency.EVENTUAL),
        metadata=dict(item.metadata),
    )


async def get_state(
    call: GrpcCall, request: state_pb2.GetStateRequest
) -> state_pb2.GetStateResponse:
    item = await call.runtime.state.get(
        call.app.id,
        request.store_name,
        GetRequest(
            key=request.key,
            consistency=_CONSISTENCY.get(request.consistency, Consistency.EVENTUAL),
            metadata=dict(request.metadata),
        ),
    )
    if item is None:
        return state_pb2.GetStateResponse()
    return state_pb2.GetStateResponse(
        data=item.data, etag=item.etag or "", metadata=dict(item.metadata)
    )


async def get_bulk_state(
    call: GrpcCall, request: state_pb2.GetBulkStateRequest
) -> state_pb2.GetBulkStateResponse:
    results = await call.runtime.state.bulk_get(
        call.app.id, request.store_name, list(request.keys), dict(request.metadata)
    )
    items = []
    for result in results:
        item = result.item
        if item is None:
            items.append(state_pb2.BulkStateItem(key=result.key, error=result.error))
        else:
            items.append(
                state_pb2.BulkStateItem(
                    key=result.key,
                    data=item.data,
                    etag=item.etag or "",
                    metadata=dict(item.metadata),
                )
            )
    return state_pb2.GetBulkStateResponse(items=items)


async def save_state(call: GrpcCall, request: state_pb2.SaveStateRequest) -> empty_pb2.Empty:
    requests = [_set_request(item) for item in request.states]
    if requests:
        await call.runtime.state.save(call.app.id, request.store_name, requests)
    return _EMPTY


async def delete_state(call: GrpcCall, request: state_pb2.DeleteStateRequest) -> empty_pb2.Empty:
    await call.runtime.state.delete(call.app.id, request.store_name, _delete_request(request))
    return _EMPTY


async def delete_bulk_state(
    call: GrpcCall, request: state_pb2.DeleteBulkStateRequest
) -> empty_pb2.Empty:
    requests = [_delete_request(item) for item in request.states]
    if requests:
        await call.runtime.state.delete_bulk(call.app.id, request.store_name, requests)
    return _EMPTY


async def execute_state_transaction(
    call: GrpcCall, request: state_pb2.ExecuteStateTransactionRequest
) -> empty_pb2.Empty:
    operations: list[Operation] = []
    for op in request.operations:
        if op.operationType == "upsert":
            operations.append(_set_request(op.request))
        elif op.operationType == "delete":
            operations.append(_delete_request(op.request))
        else:
            raise MechaError(
                ErrorCode.STATE_OPERATION_NOT_SUPPORTED,
                f"operation type {op.operationType} not supported",
            )
    await call.runtime.state.transact(
        call.app.id, request.storeName, operations, dict(request.metadata)
    )
    return _EMPTY


async def query_state(
    call: GrpcCall, request: state_pb2.QueryStateRequest
) -> state_pb2.QueryStateResponse:
    try:
        raw: Any = orjson.loads(request.query)
    except orjson.JSONDecodeError as error:
        raise MechaError(ErrorCode.MALFORMED_REQUEST, f"invalid query: {error}") from None
    query = querylang.parse(raw, dict(request.metadata))
    results, token = await call.runtime.state.query(call.app.id, request.store_name, query)
    return state_pb2.QueryStateResponse(
        results=[
            state_pb2.QueryStateItem(key=r.key, data=r.data, etag=r.etag or "") for r in results
        ],
        token=token or "",
    )


METHODS: dict[str, Any] = {
    "GetState": get_state,
    "GetBulkState": get_bulk_state,
    "SaveState": save_state,
    "DeleteState": delete_state,
    "DeleteBulkState": delete_bulk_state,
    "ExecuteStateTransaction": execute_state_transaction,
    "QueryStateAlpha1": query_state,
}
