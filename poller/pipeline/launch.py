"""Launcher: start the DRS recovery jobs of PENDING executions and of waves whose turn has come.

A tick hook of the daemon. Per execution and tick it runs **claim → StartRecovery → record**:

1. *Claim.* Read the item (consistent), pick the waves that may start now (PENDING, every wave
   they depend on COMPLETED — SEQUENTIAL plans depend on the previous wave), and write on each a
   fresh ``LaunchToken`` (also appended to ``LaunchTokens``) and ``LaunchClaimedAt`` with a
   Version-conditional update. Only one replica can win that write, so only one replica calls
   DRS for a claim. A wave stays ``PENDING`` while claimed.
2. *StartRecovery*, one job per wave, tagged ``ExecutionId``, ``WaveName`` and ``LaunchToken``,
   through a DRS client **without automatic retries** (StartRecovery is not idempotent: a retry
   after a lost response would launch every server twice), bounded by a timeout.
3. *Record* the job ID on the wave's servers, the wave ``LAUNCHING``, the execution ``POLLING``
   (Version-conditional; on conflict re-read and re-apply, guarded by the token).

The crash window is between 2 and 3: DRS has a job, the item only a claim. Nothing re-launches
a claimed wave blindly: once a claim is older than ``launch_claim_timeout_seconds`` (far above
the bounded StartRecovery call), the launcher first searches DRS (DescribeJobs since the first
claim) for a job tagged with one of the wave's tokens and **adopts** it; only if there is none
does it claim again with a new token and start the wave (at most ``launch_max_attempts`` times).
The same path covers an ambiguous answer (5xx, timeout) and a record write that kept losing.

Admission: before a claim, each ready wave asks the capacity keeper (``poller.pipeline.admission``)
whether DRS would accept it now (concurrent jobs, servers across active jobs, one active job per
source server, per account-region). A wave that must wait stays PENDING with a StatusReason
("waiting for DRS capacity: 20 of 20 jobs active in 123456789012/us-east-1") and its queue place
(``CapacityWaitSince``); waves start first come, first served. A wave over the per-job limit is
started as several jobs (same token, tagged ``LaunchPart``) tracked as one wave.

Failures: a 402 (ServiceQuotaExceededException) or 409 (ConflictException) means DRS is busy:
the wave waits and retries, like a wave refused by admission, until ``capacity_wait_max_seconds``,
then ends FAILED with the reason. Any other refusal by DRS (4xx) marks the wave FAILED with
DRS's message; throttling and connection failures (the request never reached DRS) release the
claim for the next tick; after ``launch_max_attempts`` the wave is FAILED. A wave whose dependency did not complete is never
launched and is FAILED naming that dependency. So no execution stays PENDING forever.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
)

from poller import metrics
from poller.aws.clients import AssumeRoleError, DrsClientFor, UnknownRegionError
from poller.aws.drs import LISTING_PAGE_SIZE, THROTTLING_CODES, describe_job_pages, drs_error
from poller.config import Settings
from poller.domain.apply import finish_execution
from poller.domain.capacity import (
    WAIT_PREFIX,
    Quota,
    Wait,
    limit_of_reason,
    never_fits,
    refused_wait,
    split,
    wait_expired,
)
from poller.domain.completion import execution_outcome
from poller.domain.model import Execution, Wave
from poller.domain.operators import Gate, launch_gate, pause_waves, servers_to_launch
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    ExecutionStatus,
    ExecutionType,
    ServerStatus,
    WaveStatus,
)
from poller.domain.trackable import DATA_ERRORS, MAX_REASON_CHARS, MAX_SERVER_REASON_CHARS, abandoned
from poller.pipeline.admission import CapacityKeeper, Key, Place
from poller.pipeline.find import find_polling_executions
from poller.pipeline.quarantine import Quarantine
from poller.store.dynamodb import DynamoDBError
from poller.store.executions import (
    PENDING_WAVES,
    ExecutionStore,
    InvalidWrite,
    WriteConflict,
)

log = structlog.get_logger("poller.pipeline.launch")

STARTED, REJECTED, RETRY, UNKNOWN = "started", "rejected", "retry", "unknown"
WAIT = "wait"  # DRS refused for capacity (402) or a conflict (409): wait for capacity, retry
CAPACITY_CODES = frozenset({"ServiceQuotaExceededException", "ConflictException"})
MAX_RECORD_ATTEMPTS = 5
LOOKBACK_SECONDS = 300.0  # DescribeJobs window before the first claim (clock skew with DRS)


@dataclass(frozen=True)
class StartResult:
    """What became of one wave's StartRecovery."""

    kind: str  # STARTED | REJECTED | RETRY | UNKNOWN | WAIT
    token: str
    job_id: str | None = None
    message: str = ""
    # a wave split into several jobs: source server -> its job (None: every server in job_id);
    # a server absent from it was not started (a later part failed: ``message`` says why)
    server_jobs: Mapping[str, str] | None = None


@dataclass
class WaveActions:
    """What the launcher may do with an execution's waves now (indexes into Waves)."""

    skip: dict[int, str] = field(default_factory=dict)  # never launched: a dependency failed
    launch: list[int] = field(default_factory=list)  # unclaimed and ready
    reconcile: list[int] = field(default_factory=list)  # claimed long ago: look for the job first
    pause: list[int] = field(default_factory=list)  # PauseBefore: wait for an operator

    def __bool__(self) -> bool:
        return bool(self.skip or self.launch or self.reconcile or self.pause)


def wave_actions(execution: Execution, now: float, claim_timeout: float) -> WaveActions:
    """Pure: which PENDING waves are ready, which must be skipped, which claims are stale."""
    actions = WaveActions()
    if execution.Status not in (ExecutionStatus.PENDING, ExecutionStatus.POLLING):
        return actions
    status = {w.WaveName: w.Status for w in execution.Waves}
    changed = True
    while changed:  # a skipped wave may make its own dependents skip: iterate to the fixpoint
        changed = False
        for i, wave in enumerate(execution.Waves):
            if status[wave.WaveName] != WaveStatus.PENDING or i in actions.launch or i in actions.reconcile:
                continue
            gate = launch_gate(wave, status)  # the rule: poller.domain.operators
            if gate.gate == Gate.WAIT or i in actions.pause:
                continue
            if gate.gate == Gate.BLOCKED:
                actions.skip[i] = f"not launched: wave {gate.dependency!r} ended {gate.dependency_status}"
                status[wave.WaveName] = WaveStatus.FAILED
                changed = True
                continue
            if gate.gate == Gate.PAUSE:
                actions.pause.append(i)
                continue
            if wave.LaunchClaimedAt is None:
                actions.launch.append(i)
            elif now - wave.LaunchClaimedAt >= claim_timeout:
                actions.reconcile.append(i)
    return actions


def _may_have_pending_wave(item: Mapping[str, Any]) -> bool:
    """From the finder's small projection: ``PendingWaves`` is kept by every store write. An item
    written without it gets it from its tracker's first write, so it is not re-read every tick
    (a malformed one would be re-read, re-logged and re-counted forever)."""
    pending = item.get(PENDING_WAVES)
    return isinstance(pending, int | float | Decimal) and pending > 0


def _fail_wave(wave: Wave, reason: str) -> Wave:
    reason = reason[:MAX_REASON_CHARS]  # bounded: the item's worst-case size is checked at plan time
    servers = [
        s.model_copy(
            update={"Status": ServerStatus.FAILED, "FailureReason": reason[:MAX_SERVER_REASON_CHARS]}
        )
        if s.RecoveryJobId is None
        else s
        for s in wave.Servers
    ]
    failed = [s.SourceServerId for s in servers if s.Status != ServerStatus.LAUNCHED]  # a retry's
    return wave.model_copy(  # launched servers stay launched
        update={
            "Status": WaveStatus.FAILED if len(failed) == len(servers) else WaveStatus.PARTIAL,
            "StatusReason": reason,
            "FailedServerIds": failed,
            "Servers": servers,
            "LaunchClaimedAt": None,
        }
    )


def claim_waves(
    execution: Execution, actions: WaveActions, tokens: Mapping[int, str], now: float
) -> Execution:
    """Pure: skipped waves FAILED, paused waves PAUSED, claimed waves carrying their new token."""
    waves = list(execution.Waves)
    for i, reason in actions.skip.items():
        waves[i] = _fail_wave(waves[i], reason)
    execution = pause_waves(execution.model_copy(update={"Waves": waves}), actions.pause, now)
    waves = list(execution.Waves)
    for i, token in tokens.items():
        wave = waves[i]
        waves[i] = wave.model_copy(
            update={
                "LaunchToken": token,
                "LaunchTokens": [*wave.launch_tokens(), token],
                "LaunchClaimedAt": now,
                "LaunchFirstClaimedAt": wave.LaunchFirstClaimedAt or now,
                "LaunchAttempts": wave.launch_attempts() + 1,
            }
        )
    return _settle(execution.model_copy(update={"Waves": waves}), now)


def record_results(
    execution: Execution,
    results: Mapping[int, StartResult],
    now: float,
    max_attempts: int,
    claim_timeout: float,
    capacity_wait_max: float = float("inf"),
) -> Execution:
    """Pure: job IDs onto the servers of started waves, refusals as FAILED waves, capacity
    refusals (402/409) as waiting waves (FAILED once they waited ``capacity_wait_max``).

    Guarded by the token: a result only lands on a wave that still carries it, so a late
    answer can never overwrite a newer claim's outcome.
    """
    waves = list(execution.Waves)
    closed = execution.Status in TERMINAL_EXECUTION
    for i, result in results.items():
        wave = waves[i]
        if result.token not in wave.launch_tokens():
            continue
        if result.kind == STARTED:
            started = {s.SourceServerId for s in servers_to_launch(wave)}
            servers = [_started_server(s, result) if s.SourceServerId in started else s for s in wave.Servers]
            update: dict[str, Any] = {
                "Servers": servers,
                "RecoveryJobId": result.job_id,
                "LaunchClaimedAt": None,
            }
            if wave.Status == WaveStatus.PENDING and not closed:
                update.update(Status=WaveStatus.LAUNCHING, StatusReason=None, JobStartedTime=now)
            else:
                log.warning(
                    "launched_after_close", wave=wave.WaveName, job_id=result.job_id, status=wave.Status
                )
            waves[i] = wave.model_copy(update=update)
            continue
        if wave.Status != WaveStatus.PENDING or closed:
            continue
        attempts = wave.launch_attempts()
        if result.kind == WAIT:  # not an attempt: DRS had no room; wait in the queue again
            since = wave.CapacityWaitSince if wave.CapacityWaitSince is not None else now
            if wait_expired(since, now, capacity_wait_max):
                waves[i] = _fail_wave(wave, _gave_up(capacity_wait_max, result.message))
                continue
            waves[i] = wave.model_copy(
                update={
                    "LaunchClaimedAt": None,
                    "LaunchAttempts": max(0, attempts - 1),
                    "CapacityWaitSince": since,
                    "StatusReason": result.message,
                }
            )
        elif result.kind == REJECTED:
            waves[i] = _fail_wave(wave, f"StartRecovery failed: {result.message}")
        elif attempts >= max_attempts:
            waves[i] = _fail_wave(
                wave, f"StartRecovery failed {attempts} times; last error: {result.message}"
            )
        elif result.kind == RETRY:  # never reached DRS: release the claim for the next tick
            waves[i] = wave.model_copy(
                update={
                    "LaunchClaimedAt": None,
                    "StatusReason": f"StartRecovery will be retried: {result.message}"[:MAX_REASON_CHARS],
                }
            )
        else:  # outcome unknown: keep the claim; its job is looked up by tag after the timeout
            waves[i] = wave.model_copy(
                update={
                    "StatusReason": (
                        f"StartRecovery outcome unknown ({result.message}); "
                        f"DRS is searched for the job after {claim_timeout:g} s"
                    )[:MAX_REASON_CHARS]
                }
            )
    return _settle(execution.model_copy(update={"Waves": waves}), now)


def _started_server(server: Any, result: StartResult) -> Any:
    if result.server_jobs is None:
        return server.model_copy(update={"RecoveryJobId": result.job_id})
    job = result.server_jobs.get(server.SourceServerId)
    if job is not None:
        return server.model_copy(update={"RecoveryJobId": job})
    return server.model_copy(
        update={"Status": ServerStatus.FAILED, "FailureReason": f"StartRecovery failed: {result.message}"}
    )


def _gave_up(max_wait: float, reason: str) -> str:
    why = reason[len(WAIT_PREFIX) :] if reason.startswith(WAIT_PREFIX) else reason
    return f"DRS capacity did not free up within {max_wait:g} s: {why}"


def mark_waiting(execution: Execution, waits: Mapping[int, Wait], now: float) -> Execution:
    """Pure: waves that wait for capacity carry why and since when (their queue place).

    The reason is rewritten only when the kind of limit changes (not on every count change),
    so waiting costs no write per tick."""
    waves = list(execution.Waves)
    for i, wait in waits.items():
        wave = waves[i]
        first = wave.CapacityWaitSince is None
        if first or limit_of_reason(wave.StatusReason) != wait.limit:
            waves[i] = wave.model_copy(
                update={
                    "CapacityWaitSince": now if first else wave.CapacityWaitSince,
                    "StatusReason": wait.reason,
                }
            )
    return execution.model_copy(update={"Waves": waves})


def _settle(execution: Execution, now: float) -> Execution:
    if execution.Status in TERMINAL_EXECUTION:
        return execution
    if execution_outcome(execution) in TERMINAL_EXECUTION:
        return finish_execution(execution, now)
    if execution.Status == ExecutionStatus.PENDING and any(
        w.Status != WaveStatus.PENDING for w in execution.Waves
    ):
        return execution.model_copy(update={"Status": ExecutionStatus.POLLING})
    return execution


def classify_start_error(err: BaseException) -> str:
    """REJECTED (DRS said no), WAIT (no capacity now), RETRY (never reached DRS) or UNKNOWN
    (it may have started)."""
    if isinstance(err, AssumeRoleError):  # STS refused: the call never reached DRS
        return RETRY
    if isinstance(err, ClientError):
        code, _ = drs_error(err)
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status == 429:
            return RETRY
        if code in CAPACITY_CODES or status in (402, 409):
            return WAIT  # DRS is full or the servers are busy: never FAILED for that, wait
        return UNKNOWN if status >= 500 else REJECTED
    if isinstance(err, EndpointConnectionError | ConnectTimeoutError):
        return RETRY
    return UNKNOWN


def iso_utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Launcher:
    """The daemon's tick hook that turns PENDING waves into DRS jobs (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        store: ExecutionStore,
        dynamodb: Any,
        start_drs: DrsClientFor,
        read_drs: DrsClientFor,
        polling_items: Callable[[], Iterable[Mapping[str, Any]]] = lambda: (),
        on_terminal: Callable[[Execution], None] = lambda _: None,
        on_changed: Callable[[str], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
        on_paused: Callable[[Execution], None] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._db = dynamodb
        self._start_drs = start_drs
        self._read_drs = read_drs
        self._polling_items = polling_items
        self._on_terminal = on_terminal
        self._on_changed = on_changed
        self._clock = clock
        self._on_paused = on_paused
        self._limit = asyncio.Semaphore(16)
        self._quarantine = Quarantine(clock)  # malformed items, left alone for a while
        self.quota = Quota(
            max_jobs=settings.drs_max_concurrent_jobs,
            max_servers=settings.drs_max_servers_in_jobs,
            max_servers_per_job=settings.drs_max_servers_per_job,
        )
        self.capacity = CapacityKeeper(
            self.quota,
            read_drs=read_drs,
            refresh_seconds=settings.capacity_refresh_seconds,
            lookback_seconds=settings.capacity_lookback_seconds,
            stale_seconds=max(60.0, 3 * settings.finder_period_seconds),
            clock=clock,
            own_account=settings.account_id,
        )

    @property
    def claim_timeout(self) -> float:
        return self.settings.launch_claim_timeout_seconds

    def capacity_key(self, wave: Wave) -> Key:
        """The wave's account-region; one naming the daemon's own account shares its quota."""
        return wave.target().own(self.settings.account_id)

    @staticmethod
    def ticket(execution: Execution, wave: Wave) -> str:
        return f"{execution.ExecutionId}/{wave.WaveName}"

    async def _admit(
        self, execution: Execution, candidates: list[int], now: float
    ) -> tuple[list[int], dict[int, Wait], dict[int, str]]:
        """(admitted, waiting, failed) among the waves about to start, in wave order.

        Admitted waves hold a reservation in the keeper until :meth:`_start` settles it."""
        admitted: list[int] = []
        waiting: dict[int, Wait] = {}
        failed: dict[int, str] = {}
        max_wait = self.settings.capacity_wait_max_seconds
        for i in candidates:
            wave = execution.Waves[i]
            key, ticket = self.capacity_key(wave), self.ticket(execution, wave)
            servers = [s.SourceServerId for s in servers_to_launch(wave)]
            impossible = never_fits(len(servers), self.quota, self.capacity.where(key))
            if impossible is not None:
                failed[i] = f"not launched: {impossible}"
                continue
            since = wave.CapacityWaitSince
            place = Place(now if since is None else since, execution.StartTime, ticket)
            wait = await self.capacity.ask(key, place, servers)
            if wait is None:
                admitted.append(i)
            elif since is not None and wait_expired(since, now, max_wait):
                self.capacity.forget(key, ticket)
                failed[i] = _gave_up(max_wait, wait.reason)
            else:
                waiting[i] = wait
        return admitted, waiting, failed

    async def tick(self) -> None:
        """One pass: PENDING executions (from the StatusIndex) and POLLING ones with a wave to start."""
        s = self.settings
        pending = await find_polling_executions(self._db, s.table_name, s.status_index_name, status="PENDING")
        now = self._clock()
        ids = [
            str(i["ExecutionId"])
            for i in pending
            if "ExecutionId" in i and float(i.get("StartTime", 0)) + s.launch_delay_seconds <= now
        ]
        for item in self._polling_items():
            if "ExecutionId" in item and _may_have_pending_wave(item):
                ids.append(str(item["ExecutionId"]))
        ids = self._quarantine.admit(ids)
        if ids:
            await asyncio.gather(*(self._guarded(i) for i in ids))

    async def _guarded(self, execution_id: str) -> None:
        async with self._limit:
            try:
                await self.launch(execution_id)
            except DynamoDBError as err:
                log.error("launch_failed", execution_id=execution_id, error=str(err))
            except DATA_ERRORS as err:  # its data: every tick would crash the same way
                self._quarantine.hold(execution_id, "<item>", f"launch crashed: {err!r}"[:500])

    async def launch(self, execution_id: str) -> Execution | None:
        """Claim, start and record every wave of this execution that may start now.

        ``launch_delay_seconds`` is applied by :meth:`tick`; a direct call launches at once.
        """
        execution = await self._load(execution_id)
        return None if execution is None else await self.launch_from(execution)

    async def launch_from(self, execution: Execution) -> Execution | None:
        """The same, from a read the caller already made (a stale one loses the claim: None)."""
        for _ in range(len(execution.Waves) + 1):
            now = self._clock()
            actions = wave_actions(execution, now, self.claim_timeout)
            if not actions:
                return execution
            try:
                step = await self._launch_step(execution, actions, now)
            except InvalidWrite as err:
                return await self._give_up(execution, err)
            if step is None or step.Version == execution.Version:
                return step
            execution = step
        return execution

    async def _load(self, execution_id: str) -> Execution | None:
        return await self._quarantine.load(self.store, execution_id)

    async def _give_up(self, execution: Execution, err: InvalidWrite) -> Execution | None:
        """DynamoDB refuses this item for good (e.g. it would exceed 400 KB): end it FAILED with
        DynamoDB's reason instead of failing the same write every tick."""
        log.error("execution_unwritable", execution_id=execution.ExecutionId, reason=err.reason)
        reason = f"DynamoDB refused the execution item: {err.reason}"
        current: Execution | None = execution
        for _ in range(MAX_RECORD_ATTEMPTS):
            if current is None or current.Status in TERMINAL_EXECUTION:
                return current
            try:
                saved = await self.store.save(abandoned(current, reason, self._clock()), current.Version)
            except WriteConflict:
                current = await self._load(execution.ExecutionId)
                continue
            self._on_terminal(saved)
            if execution.Status == ExecutionStatus.POLLING:
                self._on_changed(saved.ExecutionId)
            return saved
        return None

    async def _launch_step(self, execution: Execution, actions: WaveActions, now: float) -> Execution | None:
        adopted: dict[int, StartResult] = {}
        for i in actions.reconcile:
            try:
                found = await self._find_tagged_job(execution, execution.Waves[i])
            except (ClientError, BotoCoreError, UnknownRegionError) as err:
                log.warning("launch_reconcile_failed", execution_id=execution.ExecutionId, error=str(err))
                return execution  # cannot tell whether it started: never launch blind
            if found is not None:
                adopted[i] = found
        give_up = {
            i: StartResult(UNKNOWN, str(execution.Waves[i].LaunchToken), message="no job found in DRS")
            for i in actions.reconcile
            if i not in adopted and execution.Waves[i].launch_attempts() >= self.settings.launch_max_attempts
        }
        ready = [*actions.launch, *(i for i in actions.reconcile if i not in adopted and i not in give_up)]
        to_start, waiting, no_capacity = await self._admit(execution, ready, now)
        try:
            return await self._claim_and_start(
                execution, actions, now, to_start, waiting, no_capacity, adopted, give_up
            )
        finally:  # an admitted wave whose StartRecovery was never made gives its reservation back
            for i in to_start:
                wave = execution.Waves[i]
                self.capacity.release(self.capacity_key(wave), self.ticket(execution, wave))

    async def _claim_and_start(
        self,
        execution: Execution,
        actions: WaveActions,
        now: float,
        to_start: list[int],
        waiting: dict[int, Wait],
        no_capacity: dict[int, str],
        adopted: dict[int, StartResult],
        give_up: dict[int, StartResult],
    ) -> Execution | None:
        actions = dataclasses.replace(actions, skip={**actions.skip, **no_capacity})
        tokens = {i: uuid.uuid4().hex for i in to_start}
        claimed = mark_waiting(claim_waves(execution, actions, tokens, now), waiting, now)
        if claimed == execution and not adopted and not give_up:  # all wait, as they said: no write
            return execution
        try:
            saved = await self.store.save(claimed, execution.Version)
        except WriteConflict:
            metrics.WRITE_CONFLICTS.inc()
            return None  # someone else moved it: next tick
        for i in actions.skip:
            metrics.LAUNCHES.labels("capacity_gave_up" if i in no_capacity else "skipped").inc()
        for i in waiting:
            if execution.Waves[i].CapacityWaitSince is None:
                metrics.LAUNCHES.labels("waiting").inc()
                log.info(
                    "wave_waiting_for_capacity",
                    execution_id=saved.ExecutionId,
                    wave=saved.Waves[i].WaveName,
                    reason=waiting[i].reason,
                )
        if actions.pause:
            metrics.WAVES_PAUSED.inc(len(actions.pause))
            log.info(
                "waves_paused",
                execution_id=saved.ExecutionId,
                waves=[saved.Waves[i].WaveName for i in actions.pause],
            )
            self._on_paused(saved)
        if saved.Status in TERMINAL_EXECUTION:
            self._on_terminal(saved)
            return saved
        results: dict[int, StartResult] = {**adopted, **give_up}
        started = await asyncio.gather(*(self._start(saved, i, tokens[i]) for i in to_start))
        results.update(zip(to_start, started, strict=True))
        for i, result in results.items():
            outcome = "adopted" if i in adopted else "gave_up" if i in give_up else result.kind
            outcome = "refused" if outcome == WAIT else outcome
            metrics.LAUNCHES.labels(outcome).inc()
            log.info(
                "wave_launch",
                execution_id=saved.ExecutionId,
                wave=saved.Waves[i].WaveName,
                outcome=outcome,
                job_id=result.job_id,
                message=result.message or None,
            )
        return await self._record(saved, results)

    async def _start(self, execution: Execution, index: int, token: str) -> StartResult:
        """StartRecovery for the wave: one job per chunk of at most ``drs_max_servers_per_job``
        servers, all under the same token; then the keeper learns what was started."""
        wave = execution.Waves[index]
        key, ticket = self.capacity_key(wave), self.ticket(execution, wave)
        chunks = split([s.SourceServerId for s in servers_to_launch(wave)], self.quota)
        server_jobs: dict[str, str] = {}
        jobs: dict[str, frozenset[str]] = {}
        result: StartResult | None = None
        for part, chunk in enumerate(chunks, start=1):
            tags = {"LaunchPart": f"{part}/{len(chunks)}"} if len(chunks) > 1 else {}
            one = await self._start_one(execution, wave, chunk, token, tags)
            if one.kind != STARTED:
                result = one
                break
            jobs[str(one.job_id)] = frozenset(chunk)
            server_jobs.update(dict.fromkeys(chunk, str(one.job_id)))
        if jobs:
            self.capacity.started(key, ticket, jobs)
        else:
            self.capacity.release(key, ticket, refused=result is not None and result.kind == WAIT)
        if result is not None and result.kind == WAIT:
            where = self.capacity.where(key)
            code, _, message = result.message.partition(": ")
            result = StartResult(WAIT, token, message=refused_wait(code, message, where).reason)
        if not jobs:  # nothing started: the first part's failure is the wave's
            assert result is not None
            return result
        first = next(iter(jobs))
        if len(chunks) == 1:
            return StartResult(STARTED, token, job_id=first)
        note = f"part {len(jobs) + 1} of {len(chunks)}: {result.message}" if result else ""
        return StartResult(STARTED, token, job_id=first, message=note, server_jobs=server_jobs)

    async def _start_one(
        self,
        execution: Execution,
        wave: Wave,
        servers: tuple[str, ...],
        token: str,
        extra_tags: dict[str, str],
    ) -> StartResult:
        started = time.perf_counter()
        try:
            client = await self._start_drs(wave.target())
            response = await asyncio.wait_for(
                client.start_recovery(
                    sourceServers=[{"sourceServerID": s} for s in servers],
                    isDrill=execution.ExecutionType == ExecutionType.DRILL,
                    tags={
                        "ExecutionId": execution.ExecutionId,
                        "PlanId": execution.PlanId[:256],
                        "WaveName": wave.WaveName[:256],
                        "LaunchToken": token,
                        **extra_tags,
                    },
                ),
                timeout=max(1.0, self.claim_timeout / 4),
            )
        except UnknownRegionError as err:
            return StartResult(REJECTED, token, message=str(err))
        except TimeoutError:
            metrics.DRS_CALLS.labels(wave.Region, "StartRecovery", "timeout").inc()
            return StartResult(UNKNOWN, token, message="StartRecovery timed out")
        except (ClientError, BotoCoreError) as err:
            code, message = drs_error(err)
            metrics.DRS_CALLS.labels(wave.Region, "StartRecovery", code).inc()
            return StartResult(classify_start_error(err), token, message=f"{code}: {message}")
        finally:
            metrics.DRS_LATENCY.labels(wave.Region, "StartRecovery").observe(time.perf_counter() - started)
        metrics.DRS_CALLS.labels(wave.Region, "StartRecovery", "ok").inc()
        return StartResult(STARTED, token, job_id=str(response["job"]["jobID"]))

    async def _find_tagged_job(self, execution: Execution, wave: Wave) -> StartResult | None:
        """A DRS job started under one of the wave's claims (the crash window), if any."""
        tokens = wave.launch_tokens()
        if not tokens:
            return None
        since = (wave.LaunchFirstClaimedAt or execution.StartTime) - LOOKBACK_SECONDS
        client = await self._read_drs(wave.target())
        filters = {"fromDate": iso_utc(since)}
        found: dict[str, list[dict[str, Any]]] = {}  # token -> its jobs (a split wave has several)
        async with aclosing(describe_job_pages(client, wave.Region, filters, LISTING_PAGE_SIZE)) as pages:
            async for items in pages:
                for job in items:
                    tags = job.get("tags") or {}
                    if tags.get("ExecutionId") == execution.ExecutionId and tags.get("LaunchToken") in tokens:
                        found.setdefault(str(tags["LaunchToken"]), []).append(job)
        if not found:
            return None
        token, jobs = next(iter(found.items()))
        if len(jobs) == 1 and not (jobs[0].get("tags") or {}).get("LaunchPart"):
            return StartResult(STARTED, token, job_id=str(jobs[0]["jobID"]))
        server_jobs = {
            str(p.get("sourceServerID")): str(job["jobID"])
            for job in jobs
            for p in job.get("participatingServers") or []
        }
        missing = len({s.SourceServerId for s in wave.Servers} - set(server_jobs))
        note = f"{missing} servers of the wave are in no job found in DRS" if missing else ""
        return StartResult(
            STARTED, token, job_id=str(jobs[0]["jobID"]), message=note, server_jobs=server_jobs
        )

    async def _record(self, current: Execution, results: Mapping[int, StartResult]) -> Execution | None:
        s = self.settings
        was_polling = current.Status == ExecutionStatus.POLLING
        for _ in range(MAX_RECORD_ATTEMPTS):
            updated = record_results(
                current,
                results,
                self._clock(),
                s.launch_max_attempts,
                self.claim_timeout,
                s.capacity_wait_max_seconds,
            )
            try:
                saved = await self.store.save(updated, current.Version)
            except WriteConflict:
                metrics.WRITE_CONFLICTS.inc()
                fresh = await self._load(current.ExecutionId)
                if fresh is None:
                    return None
                current = fresh
                continue
            if saved.Status in TERMINAL_EXECUTION:
                self._on_terminal(saved)
            elif was_polling:
                self._on_changed(saved.ExecutionId)  # its tracker re-reads the new waves
            return saved
        log.error("launch_record_conflicts_exhausted", execution_id=current.ExecutionId)
        return None  # the claim stays: after the claim timeout the job is adopted by its tag
