"""/executions: create (PENDING, for the launcher), read, list by status, cancel.

Idempotency: with an ``Idempotency-Key`` header the ExecutionId is derived from the key
(UUIDv5), so the execution item's own conditional put (``attribute_not_exists``) is the
race-safe record: of two concurrent requests with one key exactly one put lands, the other
reads the winner back. A key names one request forever; reusing it for another plan or
type is a 422.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError

from poller.api.errors import ApiError, json_response, read_json_object
from poller.api.plans import ID_PATTERN, PlanStore, decode_token, encode_token, parse_limit
from poller.aws.drs import describe_jobs, drs_error
from poller.config import Settings
from poller.domain.model import Execution, MalformedItemError, Server, Wave
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    WaveStatus,
)
from poller.store.dynamodb import ConditionFailed, deserialize, timed_dynamodb_call
from poller.store.executions import ExecutionNotFound, ExecutionStore, WriteConflict
from poller.store.lease import is_replica_record

log = structlog.get_logger("poller.api")

IDEMPOTENCY_NAMESPACE = uuid.UUID("0b7f3c1e-5a8d-4a77-9c55-2f1d3e6b9a40")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
EXECUTION_FIELDS = frozenset({"PlanId", "ExecutionType"})
CANCEL_FIELDS = frozenset({"terminateRecoveryInstances"})
MAX_CANCEL_ATTEMPTS = 5
TERMINATE_BATCH = 200  # TerminateRecoveryInstances takes at most 200 IDs


def execution_from_plan(
    plan: Mapping[str, Any],
    execution_id: str,
    execution_type: ExecutionType,
    now: float,
    key_hash: str | None,
) -> Execution:
    """A PENDING execution: every wave PENDING, no job IDs; SEQUENTIAL becomes DependsOn chains."""
    order = str(plan.get("WaveOrder", "PARALLEL"))
    waves: list[Wave] = []
    previous: str | None = None
    for raw in plan["Waves"]:
        deps = [str(d) for d in raw.get("DependsOn") or []]
        if order == "SEQUENTIAL" and previous is not None and previous not in deps:
            deps.insert(0, previous)
        extra: dict[str, Any] = {"DependsOn": deps} if deps else {}
        waves.append(
            Wave(
                WaveName=str(raw["WaveName"]),
                Region=str(raw["Region"]),
                Status=WaveStatus.PENDING,
                Servers=[Server(SourceServerId=str(s)) for s in raw["SourceServerIds"]],
                **extra,
            )
        )
        previous = str(raw["WaveName"])
    extra_exec: dict[str, Any] = {"WaveOrder": order, "PlanName": str(plan.get("PlanName", plan["PlanId"]))}
    if key_hash:
        extra_exec["IdempotencyKeyHash"] = key_hash
    return Execution(
        ExecutionId=execution_id,
        PlanId=str(plan["PlanId"]),
        ExecutionType=execution_type,
        Status=ExecutionStatus.PENDING,
        StartTime=round(now, 3),
        Waves=waves,
        Version=0,
        **extra_exec,
    )


@dataclass
class ExecutionHandlers:
    settings: Settings
    dynamodb: Any
    store: ExecutionStore
    plans: PlanStore
    read_drs: Callable[[str], Any]
    mutate_drs: Callable[[str], Any]
    on_terminal: Callable[[Execution], None]
    clock: Callable[[], float] = time.time

    # ---- POST /executions ---------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise ApiError(
                400, "Idempotency-Key must be 1 to 255 printable ASCII characters", "Idempotency-Key"
            )
        body = await read_json_object(request)
        unknown = sorted(set(body) - EXECUTION_FIELDS)
        if unknown:
            raise ApiError(400, f"unknown field {unknown[0]!r}; allowed: PlanId, ExecutionType", unknown[0])
        plan_id = body.get("PlanId")
        if not isinstance(plan_id, str) or not plan_id:
            raise ApiError(400, "PlanId is required (a string)", "PlanId")
        raw_type = body.get("ExecutionType")
        if raw_type not in {t.value for t in ExecutionType}:
            raise ApiError(400, f"ExecutionType must be DRILL or RECOVERY, not {raw_type!r}", "ExecutionType")
        execution_type = ExecutionType(raw_type)
        plan = await self.plans.get(plan_id) if ID_PATTERN.match(plan_id) else None
        if plan is None:
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        unserved = sorted(
            {str(w.get("Region")) for w in plan.get("Waves", [])} - set(self.settings.drs_regions)
        )
        if unserved:
            raise ApiError(422, f"plan uses region {unserved[0]} which this poller does not serve", "PlanId")
        key_hash = hashlib.sha256(key.encode()).hexdigest() if key else None
        execution_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, key)) if key else str(uuid.uuid4())
        execution = execution_from_plan(plan, execution_id, execution_type, self.clock(), key_hash)
        try:
            await self.store.create(execution)
        except ConditionFailed:
            if key is None:
                raise ApiError(409, "execution ID collision; retry", "ExecutionId") from None
            return await self._replay(execution_id, plan_id, execution_type)
        log.info("execution_created", execution_id=execution_id, plan_id=plan_id, type=execution_type)
        return json_response(
            {"executionId": execution_id, "status": "PENDING"},
            status=202,
            headers={"Location": f"/executions/{execution_id}"},
        )

    async def _replay(self, execution_id: str, plan_id: str, execution_type: ExecutionType) -> web.Response:
        existing = await self.store.get_item(execution_id)
        if existing.get("PlanId") != plan_id or existing.get("ExecutionType") != execution_type:
            raise ApiError(
                422,
                "Idempotency-Key was already used for a different request "
                f"(PlanId {existing.get('PlanId')!r}, ExecutionType {existing.get('ExecutionType')!r})",
                "Idempotency-Key",
            )
        return json_response(
            {"executionId": execution_id, "status": existing.get("Status")},
            status=202,
            headers={"Location": f"/executions/{execution_id}", "Idempotent-Replayed": "true"},
        )

    # ---- GET /executions/{id} -----------------------------------------------------------
    async def get(self, request: web.Request) -> web.Response:
        execution_id = _execution_id(request)
        try:
            item = await self.store.get_item(execution_id)
        except ExecutionNotFound:
            raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId") from None
        return json_response(item)

    # ---- GET /executions?status= --------------------------------------------------------
    async def list_by_status(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        allowed = [s.value for s in ExecutionStatus]
        if status not in allowed:
            raise ApiError(400, f"query parameter status is required, one of {', '.join(allowed)}", "status")
        limit = parse_limit(request)
        s = self.settings
        params: dict[str, Any] = {
            "TableName": s.table_name,
            "IndexName": s.status_index_name,
            "KeyConditionExpression": "#status = :status",
            "ExpressionAttributeNames": {"#status": "Status"},
            "ExpressionAttributeValues": {":status": {"S": status}},
            "ScanIndexForward": False,  # newest first
            "Limit": limit,
        }
        token = request.query.get("nextToken")
        if token:
            start = decode_token(token, "nextToken")
            if start.get("Status") != {"S": status}:
                raise ApiError(400, "nextToken belongs to a listing of another status", "nextToken")
            params["ExclusiveStartKey"] = start
        page = await timed_dynamodb_call("Query", s.table_name, self.dynamodb.query, **params)
        body: dict[str, Any] = {"executions": [deserialize(i) for i in page.get("Items", [])]}
        last = page.get("LastEvaluatedKey")
        if last:
            body["nextToken"] = encode_token(last)
        return json_response(body)

    # ---- POST /executions/{id}/cancel ---------------------------------------------------
    async def cancel(self, request: web.Request) -> web.Response:
        execution_id = _execution_id(request)
        body = await read_json_object(request, optional=True)
        unknown = sorted(set(body) - CANCEL_FIELDS)
        if unknown:
            raise ApiError(
                400, f"unknown field {unknown[0]!r}; allowed: terminateRecoveryInstances", unknown[0]
            )
        terminate = body.get("terminateRecoveryInstances", False)
        if not isinstance(terminate, bool):
            raise ApiError(
                400, "terminateRecoveryInstances must be true or false", "terminateRecoveryInstances"
            )
        saved = await self._cancel(execution_id, terminate)
        self.on_terminal(saved)
        response: dict[str, Any] = {"executionId": execution_id, "status": str(saved.Status)}
        if terminate:
            response["terminate"] = await self._terminate(saved)
        log.info("execution_cancelled", execution_id=execution_id, terminate=terminate)
        return json_response(response)

    async def _cancel(self, execution_id: str, terminate: bool) -> Execution:
        for _ in range(MAX_CANCEL_ATTEMPTS):
            try:
                execution = await self.store.get(execution_id)
            except ExecutionNotFound:
                raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId") from None
            except MalformedItemError as err:
                raise ApiError(
                    409, f"execution item is malformed ({err.field}: {err.reason})", err.field
                ) from None
            if execution.Status in TERMINAL_EXECUTION:
                raise ApiError(
                    409,
                    f"execution is already {execution.Status}; only PENDING or POLLING can be cancelled",
                    "status",
                )
            if terminate and execution.ExecutionType != ExecutionType.DRILL:
                raise ApiError(
                    400,
                    "terminateRecoveryInstances is only for DRILL executions",
                    "terminateRecoveryInstances",
                )
            now = self.clock()
            reason = "cancelled by request"
            waves = [
                w
                if w.Status in TERMINAL_WAVE
                else w.model_copy(update={"Status": WaveStatus.CANCELLED, "StatusReason": reason})
                for w in execution.Waves
            ]
            cancelled = execution.model_copy(
                update={
                    "Waves": waves,
                    "Status": ExecutionStatus.CANCELLED,
                    "EndTime": now,
                    "StatusReason": reason,
                }
            )
            try:
                return await self.store.save(cancelled, execution.Version)
            except WriteConflict:
                continue  # the tracker or launcher wrote first: re-read and cancel that state
        raise ApiError(503, "execution is being updated concurrently; retry the cancel", "executionId")

    async def _terminate(self, execution: Execution) -> dict[str, Any]:
        """TerminateRecoveryInstances for every instance DRS (or our item) shows launched."""
        instances: dict[str, set[str]] = {}
        errors: list[dict[str, str]] = []
        jobs: dict[str, set[str]] = {}
        for wave in execution.Waves:
            for server in wave.Servers:
                if server.RecoveryJobId:
                    jobs.setdefault(wave.Region, set()).add(server.RecoveryJobId)
                if server.InstanceId and server.Status == "LAUNCHED":
                    instances.setdefault(wave.Region, set()).add(server.InstanceId)
        for region, job_ids in jobs.items():
            try:
                for found in await self._launched_instances(region, sorted(job_ids)):
                    instances.setdefault(region, set()).add(found)
            except (ClientError, BotoCoreError) as err:
                code, message = drs_error(err)
                errors.append({"region": region, "operation": "DescribeJobs", "error": f"{code}: {message}"})
        terminate_jobs: list[dict[str, str]] = []
        for region, ids in sorted(instances.items()):
            ordered = sorted(ids)
            for i in range(0, len(ordered), TERMINATE_BATCH):
                batch = ordered[i : i + TERMINATE_BATCH]
                try:
                    answer = await self.mutate_drs(region).terminate_recovery_instances(
                        recoveryInstanceIDs=batch
                    )
                    terminate_jobs.append({"region": region, "jobId": str(answer["job"]["jobID"])})
                except (ClientError, BotoCoreError) as err:
                    code, message = drs_error(err)
                    errors.append(
                        {
                            "region": region,
                            "operation": "TerminateRecoveryInstances",
                            "error": f"{code}: {message}",
                        }
                    )
        return {
            "recoveryInstanceIds": sorted(i for ids in instances.values() for i in ids),
            "jobs": terminate_jobs,
            "errors": errors,
        }

    async def _launched_instances(self, region: str, job_ids: list[str]) -> list[str]:
        found: list[str] = []
        for job in (await describe_jobs(self.read_drs(region), region, job_ids)).values():
            for server in job.get("participatingServers", []):
                if server.get("launchStatus") == "LAUNCHED" and server.get("recoveryInstanceID"):
                    found.append(str(server["recoveryInstanceID"]))
        return found


def _execution_id(request: web.Request) -> str:
    """The path's execution id; the replicas' liveness records share the table but are not executions."""
    execution_id = request.match_info["execution_id"]
    if is_replica_record(execution_id):
        raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId")
    return execution_id
