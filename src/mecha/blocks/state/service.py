"""StateService: the protocol-agnostic state API under both front ends.

Front ends hand it requests with the keys the app used; the service finds the store (respecting
scopes), checks the key and the features the request needs, applies the store's key prefix,
calls the store and turns store errors into Dapr's error codes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from mecha.blocks.state.errors import ETagInvalid, ETagMismatch, StoreUnavailable
from mecha.blocks.state.models import (
    DeleteRequest,
    Feature,
    GetRequest,
    Item,
    Operation,
    QueryRequest,
    SetRequest,
    TransactionRequest,
)
from mecha.blocks.state.protocols import QueryableStore, StateStore, TransactionalStore
from mecha.components.store import ComponentStore, LoadedComponent
from mecha.errors import ErrorCode, FieldViolation, MechaError, ResourceRef
from mecha.resources import Component as ComponentSpec

SEPARATOR: Final = "||"
TTL_KEY: Final = "ttlInSeconds"
CONTENT_TYPE_KEY: Final = "contentType"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BulkItem:
    key: str
    item: Item | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class QueryResult:
    key: str
    data: bytes
    etag: str | None
    content_type: str | None


def _metadata_value(spec: ComponentSpec, name: str) -> str | None:
    for item in spec.metadata:
        if item.name.lower() == name.lower():
            return item.value
    return None


def is_actor_store(spec: ComponentSpec) -> bool:
    return (_metadata_value(spec, "actorStateStore") or "").lower() == "true"


def key_prefix_strategy(spec: ComponentSpec) -> str:
    """`keyPrefix`: appid (default), name, namespace, none, or a literal prefix."""
    strategy = _metadata_value(spec, "keyPrefix") or "appid"
    if strategy.lower() in ("appid", "name", "namespace", "none"):
        strategy = strategy.lower()
    if SEPARATOR in strategy:
        raise ValueError(f"keyPrefix {strategy!r} must not contain {SEPARATOR!r}")
    return strategy


def capabilities(spec: ComponentSpec, features: Sequence[str]) -> tuple[str, ...]:
    """The features a state store reports, plus ACTOR for the actor state store."""
    if not is_actor_store(spec):
        return tuple(features)
    if Feature.TRANSACTIONAL not in features:
        raise ValueError(
            f"state store {spec.name} is marked actorStateStore but {spec.type} does not support "
            "transactions; actors need a transactional store"
        )
    return (*features, Feature.ACTOR.value)


class _Store:
    """A state store as the service uses it: the component, its prefix, its features."""

    __slots__ = ("component", "features", "name", "strategy")

    def __init__(self, loaded: LoadedComponent) -> None:
        self.name = loaded.name
        self.component: StateStore = loaded.instance  # type: ignore[assignment]
        self.strategy = key_prefix_strategy(loaded.spec)
        self.features = frozenset(loaded.instance.features())

    def prefix(self, app_id: str, namespace: str) -> str:
        strategy = self.strategy
        if strategy == "none":
            return ""
        if strategy == "name":
            return self.name + SEPARATOR
        if strategy == "appid" or (strategy == "namespace" and not namespace):
            return app_id + SEPARATOR if app_id else ""
        if strategy == "namespace":
            return f"{namespace}.{app_id}{SEPARATOR}"
        return strategy + SEPARATOR


class StateService:
    def __init__(self, components: ComponentStore, namespace: str = "") -> None:
        self._components = components
        self._namespace = namespace
        self._stores: dict[str, _Store] = {}

    # ---- lookups -------------------------------------------------------------------------------

    def _store(self, app_id: str, name: str) -> _Store:
        loaded = self._components.get("state", name, app_id)
        if loaded is None:
            if not self._components.of_block("state", app_id):
                raise MechaError(
                    ErrorCode.STATE_STORE_NOT_CONFIGURED,
                    f"state store {name} is not configured",
                    metadata={"appID": app_id},
                )
            raise MechaError(
                ErrorCode.STATE_STORE_NOT_FOUND,
                f"state store {name} is not found",
                metadata={"appID": app_id},
            )
        store = self._stores.get(name)
        if store is None or store.component is not loaded.instance:
            store = self._stores[name] = _Store(loaded)
        return store

    def _key(self, store: _Store, app_id: str, key: str) -> str:
        if SEPARATOR in key:
            message = f"input key/keyPrefix '{key}' can't contain '{SEPARATOR}'"
            raise MechaError(
                ErrorCode.STATE_ILLEGAL_KEY,
                message,
                resource=ResourceRef("state", store.name),
                violations=(FieldViolation(key, message),),
            )
        return store.prefix(app_id, self._namespace) + key

    # ---- operations ----------------------------------------------------------------------------

    async def get(self, app_id: str, store_name: str, request: GetRequest) -> Item | None:
        store = self._store(app_id, store_name)
        stored = _changed(request, key=self._key(store, app_id, request.key))
        return await _call(
            store,
            store.component.get(stored),
            ErrorCode.STATE_GET,
            f"fail to get {request.key} from state store {store_name}",
        )

    async def bulk_get(
        self, app_id: str, store_name: str, keys: Sequence[str], metadata: Mapping[str, str]
    ) -> list[BulkItem]:
        store = self._store(app_id, store_name)
        requests = [GetRequest(self._key(store, app_id, key), metadata=metadata) for key in keys]
        if not requests:
            return []
        items = await _call(
            store,
            store.component.bulk_get(requests),
            ErrorCode.STATE_BULK_GET,
            f"failed getting state in bulk from state store {store_name}",
        )
        return [BulkItem(key, item) for key, item in zip(keys, items, strict=True)]

    async def save(self, app_id: str, store_name: str, requests: Sequence[SetRequest]) -> None:
        store = self._store(app_id, store_name)
        prepared = [self._set_request(store, app_id, r) for r in requests]
        await _each(
            store,
            prepared,
            store.component.set,
            ErrorCode.STATE_SAVE,
            (ErrorCode.STATE_SAVE_ETAG_MISMATCH, ErrorCode.STATE_SAVE_ETAG_INVALID),
            f"failed saving state in state store {store_name}",
        )

    async def delete(self, app_id: str, store_name: str, request: DeleteRequest) -> None:
        store = self._store(app_id, store_name)
        prepared = _changed(request, key=self._key(store, app_id, request.key))
        await _each(
            store,
            [prepared],
            store.component.delete,
            ErrorCode.STATE_DELETE,
            (ErrorCode.STATE_DELETE_ETAG_MISMATCH, ErrorCode.STATE_DELETE_ETAG_INVALID),
            f"failed deleting state with key {request.key}",
        )

    async def delete_bulk(
        self, app_id: str, store_name: str, requests: Sequence[DeleteRequest]
    ) -> None:
        store = self._store(app_id, store_name)
        prepared = [_changed(r, key=self._key(store, app_id, r.key)) for r in requests]
        await _each(
            store,
            prepared,
            store.component.delete,
            ErrorCode.STATE_BULK_DELETE,
            (ErrorCode.STATE_BULK_DELETE_ETAG_MISMATCH, ErrorCode.STATE_BULK_DELETE_ETAG_INVALID),
            f"failed deleting state in state store {store_name}",
        )

    async def transact(
        self,
        app_id: str,
        store_name: str,
        operations: Sequence[Operation],
        metadata: Mapping[str, str],
    ) -> None:
        store = self._store(app_id, store_name)
        component = store.component
        if Feature.TRANSACTIONAL not in store.features or not isinstance(
            component, TransactionalStore
        ):
            raise MechaError(
                ErrorCode.STATE_TRANSACTIONS_NOT_SUPPORTED,
                f"state store {store_name} doesn't support transactions",
                resource=ResourceRef("state", store_name),
            )
        if not operations:
            return
        prepared: list[Operation] = []
        for op in operations:
            if isinstance(op, SetRequest):
                prepared.append(self._set_request(store, app_id, op))
            else:
                prepared.append(_changed(op, key=self._key(store, app_id, op.key)))
        request = TransactionRequest(tuple(prepared), metadata)
        try:
            await component.transact(request)
        except ETagMismatch as error:
            raise _etag_error(ErrorCode.STATE_TRANSACTION_ETAG_MISMATCH, store, error) from None
        except ETagInvalid as error:
            raise _etag_error(ErrorCode.STATE_TRANSACTION_ETAG_INVALID, store, error) from None
        except MechaError:
            raise
        except Exception as error:
            raise _failure(
                ErrorCode.STATE_TRANSACTION, store, "error while executing state transaction", error
            ) from None

    async def query(
        self, app_id: str, store_name: str, request: QueryRequest
    ) -> tuple[list[QueryResult], str | None]:
        store = self._store(app_id, store_name)
        component = store.component
        if Feature.QUERY_API not in store.features or not isinstance(component, QueryableStore):
            raise MechaError(
                ErrorCode.STATE_QUERY_NOT_SUPPORTED,
                "state store does not support querying",
                resource=ResourceRef("state", store_name),
            )
        prefix = store.prefix(app_id, self._namespace)
        try:
            response = await component.query(dataclasses.replace(request, key_prefix=prefix))
        except (ValueError, ETagInvalid) as error:
            raise MechaError(
                ErrorCode.MALFORMED_REQUEST, f"invalid query for state store {store_name}: {error}"
            ) from None
        except Exception as error:
            raise MechaError(
                ErrorCode.STATE_QUERY,
                f"state store {store_name} query failed: {error}",
                resource=ResourceRef("state", store_name),
            ) from None
        results = [
            QueryResult(original_key(r.key), r.data, r.etag, r.content_type)
            for r in response.results
        ]
        return results, response.token

    # ---- helpers -------------------------------------------------------------------------------

    def _set_request(self, store: _Store, app_id: str, request: SetRequest) -> SetRequest:
        if not request.key:
            raise MechaError(ErrorCode.MALFORMED_REQUEST, '"key" is a required field')
        metadata = request.metadata
        ttl = request.ttl_seconds
        ttl_text = metadata.get(TTL_KEY) if metadata else None
        if ttl_text is not None:
            ttl = parse_ttl(ttl_text)
        if ttl is not None and Feature.TTL not in store.features:
            raise MechaError(
                ErrorCode.STATE_TTL_NOT_SUPPORTED,
                f"state store {store.name} does not support TTL ({TTL_KEY})",
                resource=ResourceRef("state", store.name),
            )
        content_type = request.content_type
        if content_type is None and metadata:
            content_type = metadata.get(CONTENT_TYPE_KEY)
        return _changed(
            request,
            key=self._key(store, app_id, request.key),
            ttl_seconds=ttl,
            content_type=content_type,
        )


_R = TypeVar("_R", bound=GetRequest | SetRequest | DeleteRequest)
_set_attribute: Final = object.__setattr__


def _changed(request: _R, **changes: object) -> _R:
    """`dataclasses.replace` for the request dataclasses (frozen, slotted, no __post_init__)
    at a third of its cost: it runs on every state operation."""
    cls = type(request)
    names: tuple[str, ...] = cls.__slots__
    for name in changes:
        if name not in names:
            raise TypeError(f"{cls.__name__} has no field {name!r}")
    clone = object.__new__(cls)
    for name in names:
        _set_attribute(clone, name, changes[name] if name in changes else getattr(request, name))
    return clone


def parse_ttl(text: str) -> int:
    try:
        ttl = int(text)
    except ValueError:
        raise MechaError(
            ErrorCode.MALFORMED_REQUEST,
            f"metadata {TTL_KEY} must be a whole number of seconds, not {text!r}",
        ) from None
    if ttl < -1:
        raise MechaError(
            ErrorCode.MALFORMED_REQUEST, f"metadata {TTL_KEY} must be -1 or more, not {ttl}"
        )
    return ttl


def original_key(stored_key: str) -> str:
    """The key the app used: the part after the prefix."""
    parts = stored_key.split(SEPARATOR, 2)
    return parts[1] if len(parts) > 1 else stored_key


async def _call(store: _Store, pending: Awaitable[T], code: ErrorCode, context: str) -> T:
    try:
        return await pending
    except MechaError:
        raise
    except Exception as error:
        raise _failure(code, store, context, error) from None


async def _each(
    store: _Store,
    requests: Sequence[T],
    operation: Callable[[T], Awaitable[None]],
    code: ErrorCode,
    etag_codes: tuple[ErrorCode, ErrorCode],
    context: str,
) -> None:
    """Run one store call per request (concurrently when several); the first failure wins."""
    try:
        if len(requests) == 1:
            await operation(requests[0])
        elif requests:
            await asyncio.gather(*(operation(r) for r in requests))
    except ETagMismatch as error:
        raise _etag_error(etag_codes[0], store, error) from None
    except ETagInvalid as error:
        raise _etag_error(etag_codes[1], store, error) from None
    except MechaError:
        raise
    except Exception as error:
        raise _failure(code, store, context, error) from None


def _etag_error(code: ErrorCode, store: _Store, error: Exception) -> MechaError:
    detail = str(error) or (
        "possible etag mismatch. error from state store"
        if isinstance(error, ETagMismatch)
        else "invalid etag value"
    )
    return MechaError(code, detail, resource=ResourceRef("state", store.name))


def _failure(code: ErrorCode, store: _Store, context: str, error: Exception) -> MechaError:
    if isinstance(error, StoreUnavailable):
        detail = f"state store {store.name} is unavailable: {error}"
    else:
        detail = str(error) or type(error).__name__
    return MechaError(code, f"{context}: {detail}", resource=ResourceRef("state", store.name))
