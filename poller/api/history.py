"""``GET /plans/{id}/executions?limit=``: a plan's run history, newest first.

Per finished execution: type, outcome, start and end, achieved recovery time, target and whether
it was met (poller/domain/evidence.py, from the item alone), and the cleanup status. The finished
executions are found on the StatusIndex (one query per terminal status, filtered on the projected
PlanId, newest first, stopping at ``limit`` matches): its cost grows with the executions in each
status, which is fine for the history of plans a person reads, not for a dashboard poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from poller.api.errors import ApiError, json_response
from poller.api.requests import MAX_PAGE, is_id, query
from poller.config import Settings
from poller.domain.cleanup import cleanup_status
from poller.domain.evidence import achieved_recovery
from poller.domain.model import MalformedItemError
from poller.domain.statuses import TERMINAL_EXECUTION
from poller.store.dynamodb import deserialize, timed_dynamodb_call
from poller.store.executions import ExecutionNotFound, ExecutionStore
from poller.store.plans import PlanStore


class HistoryQuery(BaseModel):
    """``?limit=`` (runs, newest first)."""

    limit: int = Field(default=20, ge=1, le=MAX_PAGE, description=f"be an integer from 1 to {MAX_PAGE}")


@dataclass
class HistoryHandlers:
    settings: Settings
    dynamodb: Any
    store: ExecutionStore
    plans: PlanStore

    async def _newest(self, status: str, plan_id: str, limit: int) -> list[dict[str, Any]]:
        s = self.settings
        params: dict[str, Any] = {
            "TableName": s.table_name,
            "IndexName": s.status_index_name,
            "KeyConditionExpression": "#s = :s",
            "FilterExpression": "#p = :p",
            "ExpressionAttributeNames": {"#s": "Status", "#p": "PlanId"},
            "ExpressionAttributeValues": {":s": {"S": status}, ":p": {"S": plan_id}},
            "ScanIndexForward": False,
        }
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            page = await timed_dynamodb_call("Query", s.table_name, self.dynamodb.query, **params)
            found.extend(deserialize(i) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]

    async def plan_executions(self, request: web.Request) -> web.Response:
        plan_id = request.match_info["plan_id"]
        if not is_id(plan_id) or await self.plans.get(plan_id) is None:
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        limit = query(request, HistoryQuery).limit
        summaries: list[dict[str, Any]] = []
        for status in sorted(TERMINAL_EXECUTION):
            summaries.extend(await self._newest(str(status), plan_id, limit))
        summaries.sort(key=lambda i: float(i.get("StartTime", 0)), reverse=True)
        runs = []
        for summary in summaries[:limit]:
            try:
                execution = await self.store.get(str(summary["ExecutionId"]))
            except (ExecutionNotFound, MalformedItemError):
                continue
            seconds, met = achieved_recovery(execution)
            runs.append(
                {
                    "ExecutionId": execution.ExecutionId,
                    "ExecutionType": str(execution.ExecutionType),
                    "Status": str(execution.Status),
                    "StartTime": execution.StartTime,
                    "EndTime": execution.EndTime,
                    "RecoverySeconds": seconds,
                    "RtoTargetSeconds": execution.RtoTargetSeconds,
                    "RtoMet": met,
                    "CleanupStatus": str(cleanup_status(execution)),
                }
            )
        return json_response({"planId": plan_id, "executions": runs})
