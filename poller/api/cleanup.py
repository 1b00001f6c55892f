"""After the drill: cleanup of recovery instances and the recovery-time report.

- ``POST /executions/{id}/cleanup`` ``{"confirm"?}`` → 202 ``{executionId, cleanupStatus}``: the
  cleaner (poller/pipeline/cleanup.py) terminates the instances this execution launched. A
  RECOVERY needs ``{"confirm": "<execution id>"}``, else 409 saying why; a running execution, or
  one whose cleanup already COMPLETED, is a 409 as well.
- ``GET /drill-instances``: the recovery instances DRS reports as drill instances (``isDrill``)
  in the served regions that no finished cleanup covers - the orphans that cost money - each with
  the execution whose cleanup is terminating it, if one is.
- ``GET /executions/{id}/report``: recovery-time evidence (poller/domain/evidence.py) from the
  item, the DRS jobs (DescribeJobs) and their job logs (DescribeJobLogItems).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field

from poller.api.errors import ApiError, json_response
from poller.api.lookup import read_execution
from poller.api.requests import Request, read_json_object, validated
from poller.aws.clients import DrsClientFor, UnknownRegionError
from poller.aws.drs import describe_jobs, drs_error
from poller.config import Settings
from poller.domain import cleanup as rules
from poller.domain.evidence import recovery_report
from poller.domain.model import Execution, MalformedItemError
from poller.domain.targets import DrsTarget, target_fields
from poller.pipeline.cleanup import due_cleanups
from poller.store.executions import ExecutionNotFound, ExecutionStore, WriteConflict

log = structlog.get_logger("poller.api")

MAX_ATTEMPTS = 5


class CleanupRequest(Request):
    """Body of POST /executions/{id}/cleanup (optional for a DRILL)."""

    confirm: str | None = Field(
        default=None, max_length=256, description="be the execution's own id (required for a RECOVERY)"
    )


@dataclass
class CleanupHandlers:
    settings: Settings
    dynamodb: Any
    store: ExecutionStore
    read_drs: DrsClientFor
    clock: Callable[[], float] = time.time

    async def _execution(self, request: web.Request) -> Execution:
        execution_id = request.match_info["execution_id"]
        return await read_execution(self.store, execution_id)

    # ---- POST /executions/{id}/cleanup --------------------------------------------------
    async def request_cleanup(self, request: web.Request) -> web.Response:
        body = validated(CleanupRequest, await read_json_object(request, optional=True))
        for _ in range(MAX_ATTEMPTS):
            execution = await self._execution(request)
            try:
                requested = rules.request_cleanup(execution, self.clock(), body.confirm)
            except rules.CleanupRefused as err:
                raise ApiError(
                    409, str(err), "confirm" if "RECOVERY" in str(err) else "executionId"
                ) from None
            if requested is not execution:
                try:
                    requested = await self.store.save(requested, execution.Version)
                except WriteConflict:
                    continue  # the cleaner or another request wrote first: re-read and decide again
                log.info(
                    "cleanup_requested", execution_id=execution.ExecutionId, type=str(execution.ExecutionType)
                )
            return json_response(
                {
                    "executionId": requested.ExecutionId,
                    "cleanupStatus": str(rules.cleanup_status(requested)),
                    "instances": sum(1 for s in requested.servers() if rules.is_target(s)),
                },
                status=202,
                headers={"Location": f"/executions/{requested.ExecutionId}"},
            )
        raise ApiError(503, "execution is being updated concurrently; retry the cleanup", "executionId")

    # ---- GET /drill-instances -----------------------------------------------------------
    async def drill_instances(self, request: web.Request) -> web.Response:
        covered, in_progress = await self._cleanup_coverage()
        items: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for region in self.settings.drs_regions:
            try:
                client = await self.read_drs(DrsTarget(None, region))  # the daemon's own account
                pages = client.get_paginator("describe_recovery_instances").paginate()
                async for page in pages:
                    for instance in page.get("items", []):
                        rid = instance.get("recoveryInstanceID")
                        if instance.get("isDrill") is not True or not isinstance(rid, str) or rid in covered:
                            continue
                        entry = {
                            "region": region,
                            "recoveryInstanceID": rid,
                            "ec2InstanceID": instance.get("ec2InstanceID"),
                            "ec2InstanceState": instance.get("ec2InstanceState"),
                            "sourceServerID": instance.get("sourceServerID"),
                            "jobID": instance.get("jobID"),
                        }
                        if rid in in_progress:
                            entry["cleanupExecutionId"] = in_progress[rid]
                        items.append(entry)
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                code, message = drs_error(err)
                errors.append({"region": region, "error": f"{code}: {message}"})
        return json_response({"drillInstances": items, "errors": errors})

    async def _cleanup_coverage(self) -> tuple[set[str], dict[str, str]]:
        """Instances whose termination our records show done, and those a cleanup is terminating."""
        covered: set[str] = set()
        in_progress: dict[str, str] = {}
        for execution_id in await due_cleanups(self.dynamodb, self.settings.table_name, None):
            try:
                execution = await self.store.get(execution_id)
            except (ExecutionNotFound, MalformedItemError):
                continue
            for server in execution.servers():
                if server.InstanceId is None:
                    continue
                if server.TerminatedTime is not None:
                    covered.add(server.InstanceId)
                elif server.CleanupJobId is not None or server.CleanupToken is not None:
                    in_progress[server.InstanceId] = execution.ExecutionId
        return covered, in_progress

    # ---- GET /executions/{id}/report ----------------------------------------------------
    async def report(self, request: web.Request) -> web.Response:
        execution = await self._execution(request)
        job_ids: dict[DrsTarget, set[str]] = {}
        for wave in execution.Waves:
            for server in wave.Servers:
                if server.RecoveryJobId:
                    job_ids.setdefault(wave.target(), set()).add(server.RecoveryJobId)
        jobs: dict[str, Any] = {}
        logs: dict[str, list[Any]] = {}
        errors: list[dict[str, str]] = []
        for target, ids in sorted(job_ids.items(), key=lambda item: item[0].sort_key()):
            try:
                client = await self.read_drs(target)
                jobs.update(await describe_jobs(client, target.region, ids))
                for job_id in sorted(ids):
                    items: list[Any] = []
                    async for page in client.get_paginator("describe_job_log_items").paginate(jobID=job_id):
                        items.extend(page.get("items", []))
                    logs[job_id] = items
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                code, message = drs_error(err)
                errors.append({**target_fields(target), "error": f"{code}: {message}"})
        report = recovery_report(execution, jobs, logs)
        report["Errors"] = errors
        return json_response(report)
