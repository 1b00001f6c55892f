"""Operators in control between waves, over HTTP; the rules are ``poller.domain.operators``.

- ``POST /executions/{id}/resume`` ``{"WaveName"?}`` — every PAUSED wave (or the named one)
  is launched.
- ``POST /executions/{id}/waves/{waveName}/retry`` — new DRS jobs for the wave's failed
  servers only.
- ``POST /executions/{id}/waves/{waveName}/skip`` — the failed or paused wave is SKIPPED; its
  dependents go on.

Each answers 200 ``{executionId, status, action, changed, waves}``: ``changed`` is false when
the action was already in effect (a repeated request changes nothing). 409 with the reason
when the state does not allow it, 404 for an unknown execution or wave. Each is read →
rule → Version-conditional write; a write that lost to another writer (tracker, launcher,
another replica) re-reads and decides again. Plan waves gain ``PauseBefore`` and
``OptionalServerIds`` (validated by ``poller.api.requests.WaveRequest``; copied into the plan
item and the execution's waves by :func:`operator_wave_fields`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog
from aiohttp import web
from pydantic import Field

from poller import metrics
from poller.api.errors import ApiError, json_response
from poller.api.lookup import read_execution
from poller.api.requests import MAX_NAME, Request, WaveRequest, read_json_object, validated
from poller.domain.model import Execution
from poller.domain.operators import (
    OperatorDecision,
    UnknownWave,
    resume,
    retry_wave,
    servers_to_launch,
    skip_wave,
)
from poller.domain.statuses import TERMINAL_EXECUTION
from poller.store.executions import ExecutionStore, WriteConflict

log = structlog.get_logger("poller.api")

MAX_ATTEMPTS = 5


class ResumeRequest(Request):
    """Body of ``POST /executions/{id}/resume`` (optional): resume only this wave."""

    WaveName: str | None = Field(
        default=None, min_length=1, max_length=MAX_NAME, description="be the name of a wave of the execution"
    )


class RetryRequest(Request):
    """Body of ``.../retry`` (optional, no fields yet)."""


class SkipRequest(Request):
    """Body of ``.../skip`` (optional, no fields yet)."""


M = TypeVar("M", bound=Request)


def operator_wave_fields(wave: WaveRequest) -> dict[str, Any]:
    """A validated plan wave's operator fields, only those set (a plan item stays as small as before)."""
    fields: dict[str, Any] = {}
    if wave.PauseBefore:
        fields["PauseBefore"] = True
    if wave.OptionalServerIds:
        fields["OptionalServerIds"] = list(wave.OptionalServerIds)
    return fields


async def _body(request: web.Request, model: type[M]) -> M:
    return validated(model, await read_json_object(request, optional=True))


@dataclass
class OperatorHandlers:
    store: ExecutionStore
    on_terminal: Callable[[Execution], None]
    clock: Callable[[], float] = time.time

    async def resume(self, request: web.Request) -> web.Response:
        body = await _body(request, ResumeRequest)
        return await self._act(request, "resume", lambda e, now: resume(e, body.WaveName, now))

    async def retry(self, request: web.Request) -> web.Response:
        await _body(request, RetryRequest)
        wave = request.match_info["wave_name"]
        return await self._act(request, "retry", lambda e, now: retry_wave(e, wave, now))

    async def skip(self, request: web.Request) -> web.Response:
        await _body(request, SkipRequest)
        wave = request.match_info["wave_name"]
        return await self._act(request, "skip", lambda e, now: skip_wave(e, wave, now))

    async def _act(
        self, request: web.Request, action: str, decide: Callable[[Execution, float], OperatorDecision]
    ) -> web.Response:
        execution_id = request.match_info["execution_id"]
        for _ in range(MAX_ATTEMPTS):
            execution = await self._read(execution_id)
            try:
                decision = decide(execution, self.clock())
            except UnknownWave as err:
                raise ApiError(404, str(err), "waveName") from None
            if decision.refusal is not None:
                metrics.OPERATOR_ACTIONS.labels(action, "refused").inc()
                raise ApiError(409, decision.refusal, "status")
            if not decision.changed:
                metrics.OPERATOR_ACTIONS.labels(action, "unchanged").inc()
                return _answer(action, decision.execution, decision)
            try:
                saved = await self.store.save(decision.execution, execution.Version)
            except WriteConflict:
                metrics.WRITE_CONFLICTS.inc()
                continue  # the tracker, the launcher or another replica wrote first: decide again
            metrics.OPERATOR_ACTIONS.labels(action, "applied").inc()
            log.info(
                "operator_action",
                execution_id=execution_id,
                action=action,
                waves=list(decision.waves),
                status=str(saved.Status),
            )
            if saved.Status in TERMINAL_EXECUTION and saved.Status != execution.Status:
                self.on_terminal(saved)
            return _answer(action, saved, decision)
        raise ApiError(503, f"execution is being updated concurrently; retry the {action}", "executionId")

    async def _read(self, execution_id: str) -> Execution:
        return await read_execution(self.store, execution_id)


def _answer(action: str, execution: Execution, decision: OperatorDecision) -> web.Response:
    body: dict[str, Any] = {
        "executionId": execution.ExecutionId,
        "status": str(execution.Status),
        "action": action,
        "changed": decision.changed,
        "waves": list(decision.waves),
    }
    if action == "retry" and decision.changed:
        retried = [w for w in execution.Waves if w.WaveName in decision.waves]
        body["retryServerIds"] = [s.SourceServerId for w in retried for s in servers_to_launch(w)]
    return json_response(body)


def add_operator_routes(app: web.Application, handlers: OperatorHandlers) -> None:
    app.router.add_post("/executions/{execution_id}/resume", handlers.resume)
    app.router.add_post("/executions/{execution_id}/waves/{wave_name}/retry", handlers.retry)
    app.router.add_post("/executions/{execution_id}/waves/{wave_name}/skip", handlers.skip)
