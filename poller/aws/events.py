"""Completion events: one EventBridge event when an execution reaches a terminal state.

Off unless ``POLLER_EVENT_BUS_NAME`` is set. Publishing runs in the background of whoever made
the transition (tracker, launcher, cancel); a failure is logged and counted
(``poller_events_published_total{outcome}``) and never reaches the caller. Delivery is
at-least-once per replica that won the terminal write — consumers key on ``executionId``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics
from poller.domain.completion import server_succeeded
from poller.domain.model import Execution
from poller.domain.statuses import ServerStatus, WaveStatus

log = structlog.get_logger("poller.aws.events")

DETAIL_TYPE = "DRS Execution Finished"
PAUSED_DETAIL_TYPE = "DRS Execution Paused"


def completion_detail(execution: Execution) -> dict[str, Any]:
    """The event's detail: outcome, duration and per-wave counts."""
    end = execution.EndTime
    waves = []
    for wave in execution.Waves:
        servers = wave.Servers
        waves.append(
            {
                "waveName": wave.WaveName,
                "region": wave.Region,
                "status": str(wave.Status),
                "servers": len(servers),
                "succeeded": sum(server_succeeded(s, execution.ExecutionType) for s in servers),
                "launched": sum(s.Status == ServerStatus.LAUNCHED for s in servers),
                "failed": sum(s.Status == ServerStatus.FAILED for s in servers),
                "failedServerIds": list(wave.FailedServerIds),
                "statusReason": wave.StatusReason,
            }
        )
    return {
        "executionId": execution.ExecutionId,
        "planId": execution.PlanId,
        "executionType": str(execution.ExecutionType),
        "outcome": str(execution.Status),
        "startTime": execution.StartTime,
        "endTime": end,
        "durationSeconds": None if end is None else round(end - execution.StartTime, 3),
        "timeoutDetected": execution.TimeoutDetected,
        "statusReason": execution.StatusReason,
        "counts": {
            "waves": len(waves),
            "servers": sum(w["servers"] for w in waves),
            "succeeded": sum(w["succeeded"] for w in waves),
            "launched": sum(w["launched"] for w in waves),
            "failed": sum(w["failed"] for w in waves),
        },
        "waves": waves,
    }


def paused_detail(execution: Execution) -> dict[str, Any]:
    """The pause event's detail: the completion detail, the paused waves and the way on."""
    paused = [w.WaveName for w in execution.Waves if w.Status == WaveStatus.PAUSED]
    return {
        **completion_detail(execution),
        "pausedWaves": paused,
        "message": "paused, waiting for an operator",
        "resume": f"POST /executions/{execution.ExecutionId}/resume",
    }


class EventPublisher:
    """The daemon's terminal hook; ``client`` None (no bus configured) makes it a no-op."""

    def __init__(self, client: Any, bus_name: str | None, source: str) -> None:
        self._client = client
        self._bus = bus_name
        self._source = source
        self._tasks: set[asyncio.Task[bool]] = set()

    @property
    def enabled(self) -> bool:
        return self._client is not None and bool(self._bus)

    def on_terminal(self, execution: Execution) -> None:
        if not self.enabled:
            return
        task = asyncio.get_running_loop().create_task(self.publish(execution))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_paused(self, execution: Execution) -> None:
        """A wave waits for an operator: the same detail, with the paused waves and what to do."""
        if not self.enabled:
            return
        task = asyncio.get_running_loop().create_task(
            self.publish(execution, PAUSED_DETAIL_TYPE, paused_detail(execution))
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def publish(
        self, execution: Execution, detail_type: str = DETAIL_TYPE, detail: dict[str, Any] | None = None
    ) -> bool:
        entry: dict[str, Any] = {
            "Source": self._source,
            "DetailType": detail_type,
            "Detail": json.dumps(completion_detail(execution) if detail is None else detail),
            "EventBusName": self._bus,
            "Resources": [],
        }
        try:
            response = await self._client.put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as err:
            metrics.EVENTS_PUBLISHED.labels("error").inc()
            log.error("event_publish_failed", execution_id=execution.ExecutionId, error=str(err))
            return False
        except Exception as err:  # never let publishing crash a tracker or a handler
            metrics.EVENTS_PUBLISHED.labels("error").inc()
            log.exception("event_publish_crashed", execution_id=execution.ExecutionId, error=repr(err))
            return False
        if response.get("FailedEntryCount"):
            failed = (response.get("Entries") or [{}])[0]
            metrics.EVENTS_PUBLISHED.labels("rejected").inc()
            log.error(
                "event_publish_rejected",
                execution_id=execution.ExecutionId,
                code=failed.get("ErrorCode"),
                message=failed.get("ErrorMessage"),
            )
            return False
        metrics.EVENTS_PUBLISHED.labels("ok").inc()
        log.info("event_published", execution_id=execution.ExecutionId, outcome=str(execution.Status))
        return True

    async def drain(self, timeout: float) -> None:
        """Let in-flight publishes finish (on shutdown, before the clients close)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
