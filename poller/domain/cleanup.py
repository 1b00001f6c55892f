"""Drill cleanup: pure rules for terminating the recovery instances an execution launched.

The cleaner (poller/pipeline/cleanup.py) runs **claim → TerminateRecoveryInstances → record →
track**, the launcher's pattern:

1. *Claim.* Servers whose instance is still to be terminated get a ``CleanupToken`` and
   ``CleanupClaimedAt`` in one Version-conditional write, at most ``TERMINATE_BATCH`` per call
   and region. Only the replica that wins the write calls DRS.
2. *Call* TerminateRecoveryInstances once per claimed batch (no automatic retries).
3. *Record* the TERMINATE job on the servers that still carry that batch's token.
4. *Track* the TERMINATE jobs through the batched DescribeJobs until each server has
   ``TerminatedTime`` or ``CleanupFailureReason``.

A restart between 2 and 3 leaves a claim without a job. Nothing calls DRS again for it blindly:
once the claim is older than the claim timeout the cleaner looks for a TERMINATE job created
since the claim that covers the server (:func:`adopt_terminate_jobs`) and adopts it; only if
there is none is the claim released, so one instance never gets two TerminateRecoveryInstances.

Only the instances this execution recorded (``InstanceId`` per server) are ever targets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from poller.domain.itemsize import ITEM_LIMIT_BYTES, attribute_size, item_size
from poller.domain.model import Execution, Server, execution_to_item
from poller.domain.statuses import TERMINAL_EXECUTION, CleanupStatus, ExecutionType, ServerStatus
from poller.domain.targets import DrsTarget
from poller.domain.trackable import MAX_REASON_CHARS, MAX_SERVER_REASON_CHARS

TERMINATE_BATCH = 200  # botocore drs model: RecoveryInstanceIDs max 200
ACTIVE = frozenset({CleanupStatus.PENDING, CleanupStatus.IN_PROGRESS})
FINISHED = frozenset({CleanupStatus.COMPLETED, CleanupStatus.FAILED})

# TerminateRecoveryInstances answers, as the cleaner classifies them (see launch.classify_start_error)
STARTED, REJECTED, RETRY, UNKNOWN = "started", "rejected", "retry", "unknown"

ServerRef = tuple[int, int]  # (wave index, server index)


_TIME = Decimal("9999999999.999")
# What cleanup adds to a target server at most, and to the execution: an execution is one item, so
# a cleanup that could push it over DynamoDB's 400 KB is refused up front, never stuck half-way.
WORST_SERVER_CLEANUP: dict[str, Any] = {
    "CleanupToken": "0" * 32,
    "CleanupClaimedAt": _TIME,
    "CleanupAttempts": Decimal(999),
    "CleanupJobId": "drsjob-" + "0" * 17,
    "TerminatedTime": _TIME,
    "CleanupFailureReason": "r" * MAX_SERVER_REASON_CHARS,
}
WORST_EXECUTION_CLEANUP: dict[str, Any] = {
    "CleanupStatus": "IN_PROGRESS",
    "CleanupRequestedTime": _TIME,
    "CleanupEndTime": _TIME,
    "CleanupStatusReason": "r" * MAX_REASON_CHARS,
    "CleanupQueue": "DUE",
    "CleanupDueTime": _TIME,
}


def _added_bytes(attributes: Mapping[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) + 1 for name, value in attributes.items())


def worst_cleanup_item_bytes(execution: Execution) -> int:
    """The largest the execution's item can become while it is cleaned up."""
    targets = sum(1 for s in execution.servers() if is_target(s))
    return (
        item_size(execution_to_item(execution))
        + _added_bytes(WORST_EXECUTION_CLEANUP)
        + targets * _added_bytes(WORST_SERVER_CLEANUP)
    )


def _reason(text: str) -> str:
    return text[:MAX_SERVER_REASON_CHARS]


class CleanupRefused(ValueError):
    """A cleanup request that must not be carried out; the message says why and what to do."""


def cleanup_status(execution: Execution) -> CleanupStatus:
    return execution.CleanupStatus or CleanupStatus.NOT_REQUESTED


def cleanup_due_at(execution: Execution) -> float | None:
    """When the cleaner must next look at this execution (None: never).

    An active cleanup is due at once; a finished DRILL with ``CleanupAfterSeconds`` is due that
    long after its EndTime. A RECOVERY is never due by a timer. The store writes this as the
    sparse CleanupIndex key, so the cleaner finds exactly these items.
    """
    status = cleanup_status(execution)
    if status in ACTIVE:
        return execution.CleanupRequestedTime or execution.EndTime or execution.StartTime
    if (
        status == CleanupStatus.NOT_REQUESTED
        and execution.ExecutionType == ExecutionType.DRILL
        and execution.Status in TERMINAL_EXECUTION
        and execution.CleanupAfterSeconds is not None
        and execution.EndTime is not None
    ):
        return execution.EndTime + execution.CleanupAfterSeconds
    return None


def request_cleanup(execution: Execution, now: float, confirm: str | None = None) -> Execution:
    """The execution with its cleanup requested now, or CleanupRefused.

    A RECOVERY's instances are production: they are only terminated when the request repeats
    the execution ID as ``confirm``. A running execution is not cleaned up (cancel it with
    ``terminateRecoveryInstances`` instead). An active cleanup is returned unchanged
    (idempotent); a FAILED one is retried for the instances that were not terminated.
    """
    status = cleanup_status(execution)
    if execution.Status not in TERMINAL_EXECUTION:
        raise CleanupRefused(
            f"execution is {execution.Status}; cleanup runs once it has ended "
            "(POST /executions/{id}/cancel with terminateRecoveryInstances stops it now)"
        )
    if execution.ExecutionType == ExecutionType.RECOVERY and confirm != execution.ExecutionId:
        raise CleanupRefused(
            "this is a RECOVERY execution: its instances are the recovered production servers; "
            'to terminate them send {"confirm": "<execution id>"} with this execution\'s id'
        )
    if status in ACTIVE:
        return execution
    if status == CleanupStatus.COMPLETED:
        raise CleanupRefused(
            "cleanup already COMPLETED: every instance this execution launched is terminated"
        )
    size = worst_cleanup_item_bytes(execution)
    if size > ITEM_LIMIT_BYTES:
        raise CleanupRefused(
            f"this execution's item could grow to {size} bytes with its cleanup state, over DynamoDB's "
            f"{ITEM_LIMIT_BYTES}-byte item limit; terminate its instances from the DRS console "
            "(GET /drill-instances lists them), and split plans this large"
        )
    waves = execution.Waves
    if status == CleanupStatus.FAILED:
        waves = [
            w.model_copy(
                update={
                    "Servers": [
                        s.model_copy(update={"CleanupFailureReason": None, "CleanupAttempts": 0})
                        if s.TerminatedTime is None
                        else s
                        for s in w.Servers
                    ]
                }
            )
            for w in waves
        ]
    return settle_cleanup(
        execution.model_copy(
            update={
                "Waves": waves,
                "CleanupStatus": CleanupStatus.PENDING,
                "CleanupRequestedTime": now,
                "CleanupEndTime": None,
                "CleanupStatusReason": None,
            }
        ),
        now,
    )


def is_target(server: Server) -> bool:
    """A server whose recovery instance this execution launched (the only ones ever terminated)."""
    return server.InstanceId is not None and server.Status in (ServerStatus.LAUNCHED, ServerStatus.TERMINATED)


def is_done(server: Server) -> bool:
    return server.TerminatedTime is not None or server.CleanupFailureReason is not None


def _open(server: Server) -> bool:
    """A target with nothing under way: no claim, no job, no outcome."""
    return (
        is_target(server)
        and not is_done(server)
        and server.CleanupToken is None
        and server.CleanupJobId is None
    )


def refs(execution: Execution) -> Iterable[tuple[ServerRef, DrsTarget, Server]]:
    for i, wave in enumerate(execution.Waves):
        target = wave.target()
        for j, server in enumerate(wave.Servers):
            yield (i, j), target, server


def termination_batches(execution: Execution) -> list[tuple[DrsTarget, list[ServerRef]]]:
    """Per account-region, the open targets in batches of at most TERMINATE_BATCH (account-region,
    then wave order)."""
    if cleanup_status(execution) not in ACTIVE:
        return []
    by_target: dict[DrsTarget, list[ServerRef]] = {}
    for ref, target, server in refs(execution):
        if _open(server):
            by_target.setdefault(target, []).append(ref)
    return [
        (target, found[k : k + TERMINATE_BATCH])
        for target, found in sorted(by_target.items(), key=lambda item: item[0].sort_key())
        for k in range(0, len(found), TERMINATE_BATCH)
    ]


def stale_claims(execution: Execution, now: float, claim_timeout: float) -> list[ServerRef]:
    """Claimed servers without a job whose claim is older than ``claim_timeout``."""
    return [
        ref
        for ref, _, s in refs(execution)
        if s.CleanupToken is not None
        and s.CleanupJobId is None
        and not is_done(s)
        and now - (s.CleanupClaimedAt or 0.0) >= claim_timeout
    ]


def _update(execution: Execution, changes: Mapping[ServerRef, Mapping[str, Any]]) -> Execution:
    waves = list(execution.Waves)
    for i, wave in enumerate(waves):
        mine = {j: c for (wi, j), c in changes.items() if wi == i}
        if mine:
            servers = [
                s.model_copy(update=dict(mine[j])) if j in mine else s for j, s in enumerate(wave.Servers)
            ]
            waves[i] = wave.model_copy(update={"Servers": servers})
    return execution.model_copy(update={"Waves": waves})


def _at(execution: Execution, ref: ServerRef) -> Server:
    return execution.Waves[ref[0]].Servers[ref[1]]


def claim(execution: Execution, tokens: Mapping[str, list[ServerRef]], now: float) -> Execution:
    """Pure: the servers of each batch carry its token (only still-open servers are claimed)."""
    changes: dict[ServerRef, dict[str, Any]] = {}
    for token, batch in tokens.items():
        for ref in batch:
            server = _at(execution, ref)
            if _open(server):
                changes[ref] = {
                    "CleanupToken": token,
                    "CleanupClaimedAt": now,
                    "CleanupAttempts": server.CleanupAttempts + 1,
                }
    return settle_cleanup(_update(execution, changes), now)


@dataclass(frozen=True)
class TerminateResult:
    """What became of one batch's TerminateRecoveryInstances."""

    kind: str  # STARTED | REJECTED | RETRY | UNKNOWN
    token: str
    job_id: str | None = None
    message: str = ""


def record(
    execution: Execution, results: Iterable[TerminateResult], now: float, max_attempts: int
) -> Execution:
    """Pure: job IDs onto the servers of a started batch; refusals as CleanupFailureReason.

    Guarded by the token: a result lands only on servers still carrying it, so a late answer
    never overwrites a newer claim's outcome.
    """
    by_token = {r.token: r for r in results}
    changes: dict[ServerRef, dict[str, Any]] = {}
    for ref, _, server in refs(execution):
        result = by_token.get(server.CleanupToken or "")
        if result is None or server.CleanupJobId is not None or is_done(server):
            continue
        if result.kind == STARTED:
            changes[ref] = {"CleanupJobId": result.job_id}
        elif result.kind == REJECTED:
            changes[ref] = {
                "CleanupToken": None,
                "CleanupClaimedAt": None,
                "CleanupFailureReason": _reason(f"TerminateRecoveryInstances failed: {result.message}"),
            }
        elif server.CleanupAttempts >= max_attempts:
            changes[ref] = {
                "CleanupToken": None,
                "CleanupClaimedAt": None,
                "CleanupFailureReason": _reason(
                    f"TerminateRecoveryInstances failed {server.CleanupAttempts} times; last error: {result.message}"
                ),
            }
        elif result.kind == RETRY:  # never reached DRS: release the claim for the next pass
            changes[ref] = {"CleanupToken": None, "CleanupClaimedAt": None}
        # UNKNOWN: keep the claim; after the claim timeout DRS is searched for its job
    return settle_cleanup(_update(execution, changes), now)


def covers(job: Mapping[str, Any], server: Server) -> bool:
    """Whether a DRS TERMINATE job terminates this server's instance (by instance, else source server)."""
    if job.get("type") != "TERMINATE":
        return False
    for participant in job.get("participatingServers") or []:
        if not isinstance(participant, Mapping):
            continue
        instance = participant.get("recoveryInstanceID")
        if instance is not None:
            if instance == server.InstanceId:
                return True
        elif participant.get("sourceServerID") == server.SourceServerId:
            return True
    return False


def adopt_terminate_jobs(
    execution: Execution,
    stale: Iterable[ServerRef],
    jobs: Iterable[Mapping[str, Any]],
    now: float,
    max_attempts: int,
) -> Execution:
    """Pure: a stale claim adopts the TERMINATE job that covers it; with none its claim is released
    (DRS has no job for it, so claiming again cannot terminate it twice), or after
    ``max_attempts`` claims the server gets a CleanupFailureReason."""
    candidates = [j for j in jobs if isinstance(j.get("jobID"), str)]
    changes: dict[ServerRef, dict[str, Any]] = {}
    for ref in stale:
        server = _at(execution, ref)
        found = next((j for j in candidates if covers(j, server)), None)
        if found is not None:
            changes[ref] = {"CleanupJobId": str(found["jobID"])}
        elif server.CleanupAttempts >= max_attempts:
            changes[ref] = {
                "CleanupToken": None,
                "CleanupClaimedAt": None,
                "CleanupFailureReason": f"no TERMINATE job found after {server.CleanupAttempts} attempts",
            }
        else:
            changes[ref] = {"CleanupToken": None, "CleanupClaimedAt": None}
    return settle_cleanup(_update(execution, changes), now)


def tracked_jobs(execution: Execution) -> dict[DrsTarget, set[str]]:
    """Account-region → TERMINATE job IDs with a server still waiting for its outcome."""
    found: dict[DrsTarget, set[str]] = {}
    for _, target, server in refs(execution):
        if server.CleanupJobId is not None and not is_done(server):
            found.setdefault(target, set()).add(server.CleanupJobId)
    return found


def apply_terminate_jobs(
    execution: Execution, jobs: Mapping[str, Mapping[str, Any]], now: float
) -> Execution:
    """Pure: TERMINATED → TerminatedTime; a finished job that did not terminate it → CleanupFailureReason.

    A job DRS did not return, or one still running, leaves the server as it is.
    """
    changes: dict[ServerRef, dict[str, Any]] = {}
    for ref, _, server in refs(execution):
        if server.CleanupJobId is None or is_done(server):
            continue
        job = jobs.get(server.CleanupJobId)
        if job is None:
            continue
        participant = next(
            (
                p
                for p in job.get("participatingServers") or []
                if isinstance(p, Mapping)
                and (
                    p.get("recoveryInstanceID") == server.InstanceId
                    or p.get("sourceServerID") == server.SourceServerId
                )
            ),
            None,
        )
        launch_status = participant.get("launchStatus") if participant is not None else None
        if launch_status == "TERMINATED":
            changes[ref] = {"TerminatedTime": now, "CleanupToken": None, "CleanupClaimedAt": None}
        elif job.get("status") == "COMPLETED":
            seen = launch_status or "absent from the job"
            changes[ref] = {
                "CleanupFailureReason": _reason(
                    f"TERMINATE job {server.CleanupJobId} ended with the instance {seen}"
                ),
                "CleanupToken": None,
                "CleanupClaimedAt": None,
            }
    return settle_cleanup(_update(execution, changes), now)


def settle_cleanup(execution: Execution, now: float) -> Execution:
    """Pure: the execution's CleanupStatus from its servers (only while a cleanup is active)."""
    if cleanup_status(execution) not in ACTIVE:
        return execution
    targets = [s for s in execution.servers() if is_target(s)]
    if all(is_done(s) for s in targets):
        failed = any(s.TerminatedTime is None for s in targets)
        return execution.model_copy(
            update={
                "CleanupStatus": CleanupStatus.FAILED if failed else CleanupStatus.COMPLETED,
                "CleanupEndTime": now,
            }
        )
    under_way = any(s.CleanupToken is not None or s.CleanupJobId is not None for s in targets)
    status = CleanupStatus.IN_PROGRESS if under_way else CleanupStatus.PENDING
    return execution.model_copy(update={"CleanupStatus": status})


def start_due_cleanup(execution: Execution, now: float) -> Execution:
    """Pure: a DRILL whose CleanupAfterSeconds has passed gets its cleanup requested (the timer path)."""
    due = cleanup_due_at(execution)
    if cleanup_status(execution) != CleanupStatus.NOT_REQUESTED or due is None or due > now:
        return execution
    try:
        return request_cleanup(execution, now)
    except CleanupRefused as err:  # too large: FAILED with the reason, off the cleaner's index
        return execution.model_copy(
            update={
                "CleanupStatus": CleanupStatus.FAILED,
                "CleanupRequestedTime": now,
                "CleanupEndTime": now,
                "CleanupStatusReason": str(err)[:MAX_REASON_CHARS],
            }
        )
