"""Cleaner: terminate the recovery instances of executions whose cleanup is due or requested.

A tick hook of the daemon, beside the launcher. Each tick it reads the sparse CleanupIndex
(executions whose ``CleanupDueTime`` has come: a requested cleanup, or a DRILL whose
``CleanupAfterSeconds`` has passed since it ended) and, per execution, runs the pure rules of
poller/domain/cleanup.py: start a due cleanup, adopt or release stale claims, claim and call
TerminateRecoveryInstances (a client without automatic retries: the call is not idempotent),
record the TERMINATE jobs, and track them through the shared, batched DescribeJobs. Every write
is Version-conditional, so two replicas never both call DRS for one claim, and a restart resumes
from the item (see the domain module for why no instance is terminated twice).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics
from poller.aws.clients import DrsClientFor, UnknownRegionError
from poller.aws.drs import LISTING_PAGE_SIZE, DrsError, describe_job_pages, drs_error
from poller.config import Settings
from poller.domain import cleanup as rules
from poller.domain.model import Execution, to_dynamo_number
from poller.domain.targets import DrsTarget
from poller.pipeline.batch import JobStatusBatcher
from poller.pipeline.launch import LOOKBACK_SECONDS, classify_start_error, iso_utc
from poller.pipeline.quarantine import Quarantine
from poller.store.dynamodb import DynamoDBError, timed_dynamodb_call
from poller.store.executions import (
    CLEANUP_DUE,
    CLEANUP_QUEUE,
    CLEANUP_QUEUE_VALUE,
    ExecutionStore,
    WriteConflict,
)
from poller.store.tables import CLEANUP_INDEX

log = structlog.get_logger("poller.pipeline.cleanup")

MAX_STEPS = 6  # claim/record/track rounds per execution and tick (each one conditional write)


async def due_cleanups(dynamodb: Any, table: str, now: float | None) -> list[str]:
    """Execution IDs whose cleanup is due by ``now`` (None: every one on the CleanupIndex), all pages."""
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": CLEANUP_INDEX,
        "KeyConditionExpression": "#q = :q",
        "ExpressionAttributeNames": {"#q": CLEANUP_QUEUE},
        "ExpressionAttributeValues": {":q": {"S": CLEANUP_QUEUE_VALUE}},
    }
    if now is not None:
        params["KeyConditionExpression"] += " AND #d <= :now"
        params["ExpressionAttributeNames"]["#d"] = CLEANUP_DUE
        params["ExpressionAttributeValues"][":now"] = {"N": str(to_dynamo_number(now))}
    ids: list[str] = []
    while True:
        page = await timed_dynamodb_call("Query", table, dynamodb.query, **params)
        ids.extend(
            str(i["ExecutionId"]["S"]) for i in page.get("Items", []) if "S" in i.get("ExecutionId", {})
        )
        if "LastEvaluatedKey" not in page:
            return ids
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class Cleaner:
    """The daemon's tick hook that carries cleanups to the end (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: ExecutionStore,
        dynamodb: Any,
        batcher: JobStatusBatcher,
        terminate_drs: DrsClientFor,
        read_drs: DrsClientFor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self._db = dynamodb
        self._batcher = batcher
        self._terminate_drs = terminate_drs
        self._read_drs = read_drs
        self._clock = clock
        self._limit = asyncio.Semaphore(8)
        self._quarantine = Quarantine(clock)

    async def tick(self) -> None:
        now = self._clock()
        ids = await due_cleanups(self._db, self.settings.table_name, now)
        ids = self._quarantine.admit(ids)
        if ids:
            await asyncio.gather(*(self._guarded(i) for i in ids))

    async def _guarded(self, execution_id: str) -> None:
        async with self._limit:
            try:
                await self.clean(execution_id)
            except DynamoDBError as err:
                log.error("cleanup_failed", execution_id=execution_id, error=str(err))

    async def clean(self, execution_id: str) -> Execution | None:
        """Carry one execution's cleanup as far as DRS allows now; returns the last saved state."""
        execution = await self._load(execution_id)
        for _ in range(MAX_STEPS):
            if execution is None:
                return None
            step = await self._step(execution)
            if step is None:  # lost a write: the next tick re-reads
                return None
            if step.Version == execution.Version:
                return step
            execution = step
        return execution

    async def _load(self, execution_id: str) -> Execution | None:
        return await self._quarantine.load(self.store, execution_id)

    async def _save(self, updated: Execution, base: Execution) -> Execution | None:
        if updated == base:
            return base
        try:
            saved = await self.store.save(updated, base.Version)
        except WriteConflict:
            metrics.WRITE_CONFLICTS.inc()
            return None
        _count_outcomes(base, saved)
        return saved

    async def _step(self, execution: Execution) -> Execution | None:
        """One round: start if due, adopt stale claims, claim and terminate, else track."""
        now = self._clock()
        s = self.settings
        started = rules.start_due_cleanup(execution, now)
        if started is not execution:
            log.info("cleanup_started", execution_id=execution.ExecutionId, reason="CleanupAfterSeconds")
            return await self._save(started, execution)
        if rules.cleanup_status(execution) not in rules.ACTIVE:
            return execution
        stale = rules.stale_claims(execution, now, s.cleanup_claim_timeout_seconds)
        if stale:
            jobs = await self._terminate_jobs_since(execution, stale)
            if jobs is None:
                return execution  # cannot tell whether DRS has the job: never terminate blind
            adopted = rules.adopt_terminate_jobs(execution, stale, jobs, now, s.cleanup_max_attempts)
            return await self._save(adopted, execution)
        batches = rules.termination_batches(execution)
        if batches:
            tokens = {uuid.uuid4().hex: refs for _, refs in batches}
            claimed = await self._save(rules.claim(execution, tokens, now), execution)
            if claimed is None:
                return None
            targets = [target for target, _ in batches]
            results = await asyncio.gather(
                *(
                    self._terminate(claimed, target, token, refs)
                    for target, (token, refs) in zip(targets, tokens.items(), strict=True)
                )
            )
            return await self._record(claimed, list(results))
        return await self._track(execution)

    async def _terminate(
        self, execution: Execution, target: DrsTarget, token: str, refs: list[rules.ServerRef]
    ) -> rules.TerminateResult:
        instances = [str(execution.Waves[i].Servers[j].InstanceId) for i, j in refs]
        started = time.perf_counter()
        region = target.region
        try:
            client = await self._terminate_drs(target)
            answer = await asyncio.wait_for(
                client.terminate_recovery_instances(recoveryInstanceIDs=instances),
                timeout=max(1.0, self.settings.cleanup_claim_timeout_seconds / 4),
            )
        except UnknownRegionError as err:
            return rules.TerminateResult(rules.REJECTED, token, message=str(err))
        except TimeoutError:
            metrics.DRS_CALLS.labels(region, "TerminateRecoveryInstances", "timeout").inc()
            return rules.TerminateResult(rules.UNKNOWN, token, message="TerminateRecoveryInstances timed out")
        except (ClientError, BotoCoreError) as err:
            code, message = drs_error(err)
            metrics.DRS_CALLS.labels(region, "TerminateRecoveryInstances", code).inc()
            kind = classify_start_error(err)  # the same four kinds as StartRecovery's
            log.warning(
                "terminate_failed",
                execution_id=execution.ExecutionId,
                target=str(target),
                kind=kind,
                error=message,
            )
            return rules.TerminateResult(kind, token, message=f"{code}: {message}")
        finally:
            metrics.DRS_LATENCY.labels(region, "TerminateRecoveryInstances").observe(
                time.perf_counter() - started
            )
        metrics.DRS_CALLS.labels(region, "TerminateRecoveryInstances", "ok").inc()
        job_id = str(answer["job"]["jobID"])
        log.info(
            "terminate_started",
            execution_id=execution.ExecutionId,
            target=str(target),
            job_id=job_id,
            instances=len(instances),
        )
        return rules.TerminateResult(rules.STARTED, token, job_id=job_id)

    async def _record(self, current: Execution, results: list[rules.TerminateResult]) -> Execution | None:
        for _ in range(5):
            updated = rules.record(current, results, self._clock(), self.settings.cleanup_max_attempts)
            saved = await self._save(updated, current)
            if saved is not None:
                return saved
            fresh = await self._load(current.ExecutionId)
            if fresh is None:
                return None
            current = fresh
        log.error("cleanup_record_conflicts_exhausted", execution_id=current.ExecutionId)
        return None  # the claims stay: after the claim timeout their jobs are adopted

    async def _track(self, execution: Execution) -> Execution | None:
        jobs: dict[str, Any] = {}
        for target, job_ids in rules.tracked_jobs(execution).items():
            try:
                jobs.update(await self._batcher.describe(target, job_ids))
            except (DrsError, UnknownRegionError, ClientError, BotoCoreError) as err:  # next tick
                log.warning(
                    "cleanup_track_failed",
                    execution_id=execution.ExecutionId,
                    target=str(target),
                    error=str(err),
                )
        return await self._save(rules.apply_terminate_jobs(execution, jobs, self._clock()), execution)

    async def _terminate_jobs_since(
        self, execution: Execution, stale: list[rules.ServerRef]
    ) -> list[dict[str, Any]] | None:
        """TERMINATE jobs created since the oldest stale claim, in the stale servers' account-regions."""
        oldest: dict[DrsTarget, float] = {}
        for i, j in stale:
            target = execution.Waves[i].target()
            at = execution.Waves[i].Servers[j].CleanupClaimedAt or execution.StartTime
            oldest[target] = min(oldest.get(target, at), at)
        found: list[dict[str, Any]] = []
        for target, since in oldest.items():
            filters = {"fromDate": iso_utc(since - LOOKBACK_SECONDS)}
            try:
                client = await self._read_drs(target)
                pages_of = describe_job_pages(client, target.region, filters, LISTING_PAGE_SIZE)
                async with aclosing(pages_of) as pages:
                    async for items in pages:
                        found.extend(j for j in items if j.get("type") == "TERMINATE")
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                log.warning("cleanup_reconcile_failed", execution_id=execution.ExecutionId, error=str(err))
                return None
        return found


def _count_outcomes(before: Execution, after: Execution) -> None:
    done_before = {s.SourceServerId for s in before.servers() if rules.is_done(s)}
    for s in after.servers():
        if rules.is_done(s) and s.SourceServerId not in done_before:
            metrics.CLEANUP_INSTANCES.labels("terminated" if s.TerminatedTime is not None else "failed").inc()
    if rules.cleanup_status(after) != rules.cleanup_status(before):
        log.info(
            "cleanup_status",
            execution_id=after.ExecutionId,
            status=str(rules.cleanup_status(after)),
            was=str(rules.cleanup_status(before)),
        )
