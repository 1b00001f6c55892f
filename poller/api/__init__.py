"""The execution API, served by the daemon's aiohttp server next to /metrics and the health checks.

- ``POST /plans`` → 201 ``{"PlanId"}``; ``GET /plans/{id}``; ``GET /plans?limit=&nextToken=``
- ``POST /executions`` ``{PlanId, ExecutionType}`` → 202 ``{"executionId"}`` (``Idempotency-Key`` honoured)
- ``GET /executions/{id}`` (full state); ``GET /executions?status=&limit=&nextToken=`` (StatusIndex,
  newest first: summaries, i.e. the index's attributes, not the waves)
- ``POST /executions/{id}/cancel`` ``{"terminateRecoveryInstances"?}`` → 200, 409 when already terminal
- ``POST /executions/{id}/resume``, ``POST /executions/{id}/waves/{name}/retry|skip`` (``operators.py``)
- ``POST /executions/{id}/cleanup`` ``{"confirm"?}`` → 202; ``GET /executions/{id}/report``;
  ``GET /drill-instances`` (poller/api/cleanup.py); ``GET /plans/{id}/executions`` (run history)

Errors are JSON ``{"error", "field"?}``; unknown routes are 404 JSON. With ``POLLER_API_TOKEN``
set, the API paths require ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from poller.api.cleanup import CleanupHandlers
from poller.api.errors import ApiError, error_middleware
from poller.api.executions import ExecutionHandlers
from poller.api.history import HistoryHandlers
from poller.api.operators import OperatorHandlers, add_operator_routes
from poller.api.plans import PlanHandlers
from poller.aws.clients import DrsClientFor
from poller.config import Settings
from poller.domain.model import Execution
from poller.store.executions import ExecutionStore
from poller.store.plans import PlanStore

__all__ = ["ApiError", "add_api_routes"]


def add_api_routes(
    app: web.Application,
    settings: Settings,
    dynamodb: Any,
    store: ExecutionStore,
    read_drs: DrsClientFor,
    mutate_drs: DrsClientFor,
    on_terminal: Callable[[Execution], None],
    clock: Callable[[], float] = time.time,
) -> None:
    """Register the API routes and the JSON error middleware on the daemon's app (before it starts)."""
    plans = PlanStore(dynamodb, settings.plans_table_name)
    plan_handlers = PlanHandlers(plans, settings.drs_regions)
    executions = ExecutionHandlers(settings, dynamodb, store, plans, read_drs, mutate_drs, on_terminal, clock)
    app.middlewares.append(error_middleware(settings.api_token))
    app.router.add_post("/plans", plan_handlers.create)
    app.router.add_get("/plans", plan_handlers.list_plans)
    app.router.add_get("/plans/{plan_id}", plan_handlers.get)
    app.router.add_post("/executions", executions.create)
    app.router.add_get("/executions", executions.list_by_status)
    app.router.add_get("/executions/{execution_id}", executions.get)
    app.router.add_post("/executions/{execution_id}/cancel", executions.cancel)
    add_operator_routes(app, OperatorHandlers(store, on_terminal, clock))
    cleanup = CleanupHandlers(settings, dynamodb, store, read_drs, clock)
    app.router.add_post("/executions/{execution_id}/cleanup", cleanup.request_cleanup)
    app.router.add_get("/executions/{execution_id}/report", cleanup.report)
    app.router.add_get("/drill-instances", cleanup.drill_instances)
    app.router.add_get(
        "/plans/{plan_id}/executions", HistoryHandlers(settings, dynamodb, store, plans).plan_executions
    )
