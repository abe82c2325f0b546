"""What a state store component implements, and the optional capabilities it may add.

Every store implements `StateStore`. A store that declares `TRANSACTIONAL` also implements
`TransactionalStore`; one that declares `QUERY_API` implements `QueryableStore`. The service
checks the declared features, never the class.

Errors a store raises (from `mecha.blocks.state.errors`):
- `ETagMismatch` when a given ETag does not match the stored one (or the key is gone),
- `ETagInvalid` when an ETag is not in the store's format,
- `StoreUnavailable` when the backend cannot be reached (the store reconnects on later calls),
- anything else is reported as the operation's failure with its message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from mecha.blocks.state.models import (
    DeleteRequest,
    GetRequest,
    Item,
    QueryRequest,
    QueryResponse,
    SetRequest,
    TransactionRequest,
)
from mecha.components.base import Component


class StateStore(Component, Protocol):
    async def get(self, request: GetRequest) -> Item | None:
        """The item, or None when the key is missing or expired."""
        ...

    async def set(self, request: SetRequest) -> None: ...

    async def delete(self, request: DeleteRequest) -> None:
        """Deleting a missing key succeeds, unless an ETag was given (then ETagMismatch)."""
        ...

    async def bulk_get(self, requests: Sequence[GetRequest]) -> list[Item | None]:
        """Items in the order of the requests. A store with nothing better loops over get."""
        ...


@runtime_checkable
class TransactionalStore(Protocol):
    async def transact(self, request: TransactionRequest) -> None:
        """All operations or none. An ETag failure in any of them fails the whole transaction."""
        ...


@runtime_checkable
class QueryableStore(Protocol):
    async def query(self, request: QueryRequest) -> QueryResponse: ...
