"""How an API request finds the execution it names: one answer for every endpoint."""

from __future__ import annotations

from poller.api.errors import ApiError
from poller.domain.model import Execution, MalformedItemError
from poller.store.executions import ExecutionNotFound, ExecutionStore
from poller.store.lease import is_replica_record


async def read_execution(store: ExecutionStore, execution_id: str) -> Execution:
    """The stored execution, or ApiError: 404 when there is none (a replica record is none), 409
    when its item is malformed (the field at fault named; the item is left untouched)."""
    if is_replica_record(execution_id):
        raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId")
    try:
        return await store.get(execution_id)
    except ExecutionNotFound:
        raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId") from None
    except MalformedItemError as err:
        raise ApiError(409, f"execution item is malformed ({err.field}: {err.reason})", err.field) from None
