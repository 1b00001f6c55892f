"""/executions: create (PENDING, for the launcher), read, list by status, cancel.

Idempotency: with an ``Idempotency-Key`` header the ExecutionId is derived from the key
(UUIDv5), so the execution item's own conditional put (``attribute_not_exists``) is the
race-safe record: of two concurrent requests with one key exactly one put lands, the other
reads the winner back. A key names one request forever; reusing it for another plan or
type is a 422.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError

from poller.api.errors import ApiError, json_response
from poller.api.lookup import read_execution
from poller.api.operators import operator_wave_fields
from poller.api.plans import bad_token, page_start
from poller.api.requests import (
    IDEMPOTENCY_KEY_PATTERN,
    CancelRequest,
    ExecutionRequest,
    PlanRequest,
    StatusPageQuery,
    encode_token,
    is_id,
    query,
    read_json_object,
    validated,
)
from poller.aws.clients import DrsClientFor, UnknownRegionError
from poller.aws.drs import describe_jobs, drs_error
from poller.config import Settings
from poller.domain.cancel import AlreadyFinished, CancelRefused, cancel_execution
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import ExecutionStatus, ExecutionType, WaveStatus
from poller.domain.targets import DrsTarget, target_fields
from poller.store.dynamodb import ConditionFailed
from poller.store.executions import ExecutionNotFound, ExecutionStore, WriteConflict
from poller.store.lease import is_replica_record
from poller.store.listing import StartKeyError, executions_by_status
from poller.store.plans import PlanStore

log = structlog.get_logger("poller.api")

IDEMPOTENCY_NAMESPACE = uuid.UUID("0b7f3c1e-5a8d-4a77-9c55-2f1d3e6b9a40")
MAX_CANCEL_ATTEMPTS = 5
TERMINATE_BATCH = 200  # TerminateRecoveryInstances takes at most 200 IDs
PLAN_ITEM_ONLY = frozenset({"CreatedTime"})  # stored with a plan, not part of a plan request


def execution_from_plan(
    plan: PlanRequest,
    execution_id: str,
    execution_type: ExecutionType,
    now: float,
    key_hash: str | None,
) -> Execution:
    """A PENDING execution: every wave PENDING, no job IDs; SEQUENTIAL becomes DependsOn chains."""
    waves: list[Wave] = []
    previous: str | None = None
    for i, raw in enumerate(plan.Waves):
        name = plan.wave_name(i)
        deps = list(raw.DependsOn)
        if plan.WaveOrder == "SEQUENTIAL" and previous is not None and previous not in deps:
            deps.insert(0, previous)
        waves.append(
            Wave(
                WaveName=name,
                Region=raw.Region,
                AccountId=raw.AccountId,
                Status=WaveStatus.PENDING,
                Servers=[Server(SourceServerId=s) for s in raw.SourceServerIds],
                DependsOn=deps or None,
                **operator_wave_fields(raw),  # PauseBefore, OptionalServerIds
                RtoTargetSeconds=raw.RtoTargetSeconds,
            )
        )
        previous = name
    plan_id = str(plan.PlanId)
    return Execution(
        ExecutionId=execution_id,
        PlanId=plan_id,
        ExecutionType=execution_type,
        Status=ExecutionStatus.PENDING,
        StartTime=round(now, 3),
        Waves=waves,
        Version=0,
        WaveOrder=plan.WaveOrder,
        PlanName=plan.PlanName or plan_id,
        IdempotencyKeyHash=key_hash,
        RtoTargetSeconds=plan.RtoTargetSeconds,
        # a plan's cleanup timer applies to its DRILLs only: a RECOVERY is never terminated by a timer
        CleanupAfterSeconds=plan.CleanupAfterSeconds if execution_type == ExecutionType.DRILL else None,
    )


@dataclass
class ExecutionHandlers:
    settings: Settings
    dynamodb: Any
    store: ExecutionStore
    plans: PlanStore
    read_drs: DrsClientFor
    mutate_drs: DrsClientFor
    on_terminal: Callable[[Execution], None]
    clock: Callable[[], float] = time.time

    # ---- POST /executions ---------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
            raise ApiError(
                400, "Idempotency-Key must be 1 to 255 printable ASCII characters", "Idempotency-Key"
            )
        asked = validated(ExecutionRequest, await read_json_object(request))
        plan = await self._plan(asked.PlanId)
        key_hash = hashlib.sha256(key.encode()).hexdigest() if key else None
        execution_id = str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, key)) if key else str(uuid.uuid4())
        execution = execution_from_plan(plan, execution_id, asked.ExecutionType, self.clock(), key_hash)
        try:
            await self.store.create(execution)
        except ConditionFailed:
            if key is None:
                raise ApiError(409, "execution ID collision; retry", "ExecutionId") from None
            return await self._replay(execution_id, asked.PlanId, asked.ExecutionType)
        log.info(
            "execution_created", execution_id=execution_id, plan_id=asked.PlanId, type=asked.ExecutionType
        )
        return json_response(
            {"executionId": execution_id, "status": "PENDING"},
            status=202,
            headers={"Location": f"/executions/{execution_id}"},
        )

    async def _plan(self, plan_id: str) -> PlanRequest:
        """The stored plan, checked again as a request: one written by hand or by an older
        version, or using a region no longer served, is a 422 naming what is wrong with it."""
        item = await self.plans.get(plan_id)
        if item is None:
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        stored = {k: v for k, v in item.items() if k not in PLAN_ITEM_ONLY}
        try:
            return validated(PlanRequest, stored, {"regions": list(self.settings.drs_regions)})
        except ApiError as err:
            raise ApiError(422, f"plan {plan_id!r} cannot be executed: {err.message}", "PlanId") from None

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
        params = query(request, StatusPageQuery)
        s = self.settings
        try:
            page = await executions_by_status(
                self.dynamodb,
                s.table_name,
                s.status_index_name,
                params.status,
                params.limit,
                page_start(params.nextToken),
            )
        except StartKeyError as err:
            raise bad_token(err) from None
        body: dict[str, Any] = {"executions": page.items}
        if page.last_key:
            body["nextToken"] = encode_token(page.last_key)
        return json_response(body)

    # ---- POST /executions/{id}/cancel ---------------------------------------------------
    async def cancel(self, request: web.Request) -> web.Response:
        execution_id = _execution_id(request)
        asked = validated(CancelRequest, await read_json_object(request, optional=True))
        terminate = asked.terminateRecoveryInstances
        saved = await self._cancel(execution_id, terminate)
        self.on_terminal(saved)
        response: dict[str, Any] = {"executionId": execution_id, "status": str(saved.Status)}
        if terminate:
            response["terminate"] = await self._terminate(saved)
        log.info("execution_cancelled", execution_id=execution_id, terminate=terminate)
        return json_response(response)

    async def _cancel(self, execution_id: str, terminate: bool) -> Execution:
        for _ in range(MAX_CANCEL_ATTEMPTS):
            execution = await read_execution(self.store, execution_id)
            try:
                cancelled = cancel_execution(execution, self.clock(), terminate)
            except AlreadyFinished as err:
                raise ApiError(409, str(err), "status") from None
            except CancelRefused as err:
                raise ApiError(400, str(err), "terminateRecoveryInstances") from None
            try:
                return await self.store.save(cancelled, execution.Version)
            except WriteConflict:
                continue  # the tracker or launcher wrote first: re-read and cancel that state
        raise ApiError(503, "execution is being updated concurrently; retry the cancel", "executionId")

    async def _terminate(self, execution: Execution) -> dict[str, Any]:
        """TerminateRecoveryInstances for every instance DRS (or our item) shows launched."""
        instances: dict[DrsTarget, set[str]] = {}
        errors: list[dict[str, str]] = []
        jobs: dict[DrsTarget, set[str]] = {}
        for wave in execution.Waves:
            for server in wave.Servers:
                if server.RecoveryJobId:
                    jobs.setdefault(wave.target(), set()).add(server.RecoveryJobId)
                if server.InstanceId and server.Status == "LAUNCHED":
                    instances.setdefault(wave.target(), set()).add(server.InstanceId)
        for target, job_ids in jobs.items():
            try:
                for found in await self._launched_instances(target, sorted(job_ids)):
                    instances.setdefault(target, set()).add(found)
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                code, message = drs_error(err)
                errors.append(
                    {**target_fields(target), "operation": "DescribeJobs", "error": f"{code}: {message}"}
                )
        terminate_jobs: list[dict[str, str]] = []
        for target, ids in sorted(instances.items(), key=lambda item: item[0].sort_key()):
            ordered = sorted(ids)
            for i in range(0, len(ordered), TERMINATE_BATCH):
                batch = ordered[i : i + TERMINATE_BATCH]
                try:
                    client = await self.mutate_drs(target)
                    answer = await client.terminate_recovery_instances(recoveryInstanceIDs=batch)
                    terminate_jobs.append({**target_fields(target), "jobId": str(answer["job"]["jobID"])})
                except (ClientError, BotoCoreError, UnknownRegionError) as err:
                    code, message = drs_error(err)
                    errors.append(
                        {
                            **target_fields(target),
                            "operation": "TerminateRecoveryInstances",
                            "error": f"{code}: {message}",
                        }
                    )
        return {
            "recoveryInstanceIds": sorted(i for ids in instances.values() for i in ids),
            "jobs": terminate_jobs,
            "errors": errors,
        }

    async def _launched_instances(self, target: DrsTarget, job_ids: list[str]) -> list[str]:
        found: list[str] = []
        for job in (await describe_jobs(await self.read_drs(target), target.region, job_ids)).values():
            for server in job.get("participatingServers", []):
                if server.get("launchStatus") == "LAUNCHED" and server.get("recoveryInstanceID"):
                    found.append(str(server["recoveryInstanceID"]))
        return found


def _execution_id(request: web.Request) -> str:
    """The path's execution id; the replicas' liveness records share the table but are not executions."""
    execution_id = request.match_info["execution_id"]
    if not is_id(execution_id) or is_replica_record(execution_id):
        raise ApiError(404, f"execution {execution_id!r} does not exist", "executionId")
    return execution_id
