"""Simulator state: accounts and regions, source servers, jobs, and the control operations on them.

Every account-region is isolated, as in DRS: its own source servers, jobs, recovery instances and
quotas. A call's account comes from its credentials (:mod:`drssim.accounts`); without any
account configuration every call is :data:`ACCOUNT_ID`'s.

A job stores only its immutable plan (see :mod:`drssim.timeline`) and a :class:`Timebase`
mapping simulated time to the job's local time. Status is computed lazily from the clock
on every read, so 10,000 live jobs cost nothing between calls and DescribeJobs is a dict
lookup plus a pure function per job.

All mutation happens on the simulator's event loop thread (HTTP handlers), so no locks
are needed here; the clock carries its own lock because tests may step it directly.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from drssim import timeline as tl
from drssim.accounts import Accounts
from drssim.clock import SimClock, Timebase
from drssim.faults import CallLog, Faults
from drssim.quotas import Quotas, check

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
TERMINATE_DURATIONS = tl.Durations(pending=5.0, started=5.0, in_progress=30.0, post_launch=0.0, jitter=2.0)
HoldReason = Literal["explicit", "manual"]


class DrsError(Exception):
    """An AWS-shaped error: rendered as JSON with ``x-amzn-ErrorType``."""

    def __init__(
        self,
        code: str,
        message: str,
        status: int = 400,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}
        self.headers = headers or {}


class ControlError(Exception):
    """A control-API error (4xx JSON ``{"error": ...}``)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(slots=True)
class SourceServer:
    """A registered source server in one region."""

    source_server_id: str
    region: str
    hostname: str
    created_sim: float
    tags: dict[str, str] = field(default_factory=dict)
    last_job_id: str | None = None
    account: str = ACCOUNT_ID


@dataclass(slots=True)
class Job:
    """A DRS job: plan + local timebase + hold state."""

    job_id: str
    region: str
    type: Literal["LAUNCH", "TERMINATE"]
    initiated_by: str
    is_drill: bool
    created_sim: float
    created_wall: float
    plan: tl.JobPlan
    timebase: Timebase
    tags: dict[str, str] = field(default_factory=dict)
    hold_reasons: set[str] = field(default_factory=set)
    # LAUNCH jobs: source server -> TERMINATE job that terminates its recovery instance
    terminated_by: dict[str, str] = field(default_factory=dict)
    # TERMINATE jobs: (launch job id, source server id) pairs being terminated
    terminates: list[tuple[str, str]] = field(default_factory=list)
    # Rendered strings that never change once known (arn, creation/end/discovery times):
    # DescribeJobs renders up to 1,000 jobs per call, formatting dates dominated its cost.
    render_cache: dict[str, str] = field(default_factory=dict)
    account: str = ACCOUNT_ID

    def local(self, now: float) -> float:
        """Job-local seconds at simulated time ``now``."""
        return self.timebase.at(now)

    def set_hold(self, reason: HoldReason, on: bool, now: float, wall: float) -> None:
        """Freeze/unfreeze the job's timeline; several reasons may hold it at once."""
        before = bool(self.hold_reasons)
        if on:
            self.hold_reasons.add(reason)
        else:
            self.hold_reasons.discard(reason)
        after = bool(self.hold_reasons)
        if before != after:
            self.timebase.set_rate(now, 0.0 if after else 1.0, wall)


@dataclass(slots=True)
class Region:
    """Per account-region state; account-regions are fully isolated."""

    name: str
    account: str = ACCOUNT_ID
    source_servers: dict[str, SourceServer] = field(default_factory=dict)
    jobs: list[Job] = field(default_factory=list)
    # recoveryInstanceID -> (launch job id, source server id)
    recovery_instances: dict[str, tuple[str, str]] = field(default_factory=dict)


class Simulator:
    """All simulator state for one server instance (no module-level mutable state)."""

    def __init__(
        self,
        clock: SimClock | None = None,
        seed: int | None = None,
        strict_source_servers: bool = False,
        drill: tl.Durations | None = None,
        recovery: tl.Durations | None = None,
        quotas: Quotas | None = None,
        accounts: Accounts | None = None,
    ) -> None:
        self.clock = clock or SimClock()
        self.accounts = accounts or Accounts(ACCOUNT_ID)  # whose call is it (drssim.accounts)
        self.quotas = quotas or Quotas()  # DRS limits: off unless set (drssim.quotas)
        self.seed = seed
        self.strict_source_servers = strict_source_servers
        self.drill = drill or tl.Durations.drill()
        self.recovery = recovery or tl.Durations.recovery()
        self.job_listeners: list[Callable[[Job], None]] = []  # told of every new job (launch events)
        self._init_state()

    def _init_state(self) -> None:
        self.rng = random.Random(self.seed)
        self.faults = Faults(random.Random(None if self.seed is None else self.seed + 1))
        self.calls = CallLog()
        self.regions: dict[tuple[str, str], Region] = {}  # (account, region) -> its state
        self.jobs: dict[str, Job] = {}
        self.manual = False

    def reset(self) -> None:
        """Forget every job, server, fault and call; leave auto mode. The clock keeps running."""
        self._init_state()

    def region(self, name: str, account: str = ACCOUNT_ID) -> Region:
        """The account-region's state, created on first use."""
        reg = self.regions.get((account, name))
        if reg is None:
            reg = self.regions[(account, name)] = Region(name, account)
        return reg

    # ---- creation -------------------------------------------------------------------
    def new_id(self, prefix: str, n: int, alphabet: str = tl.ALNUM) -> str:
        """A fresh random ID from the (optionally seeded) RNG."""
        return tl.random_id(self.rng, prefix, n, alphabet)

    def create_source_servers(
        self,
        region: str,
        count: int = 0,
        ids: list[str] | None = None,
        hostname_prefix: str = "host",
        account: str = ACCOUNT_ID,
    ) -> list[str]:
        """Register source servers (given IDs and/or ``count`` fresh ones)."""
        reg = self.region(region, account)
        wanted = list(ids or [])
        wanted += [self.new_id("s-", 17) for _ in range(count)]
        now = self.clock.now()
        for sid in wanted:
            if sid not in reg.source_servers:
                n = len(reg.source_servers) + 1
                reg.source_servers[sid] = SourceServer(
                    sid, region, f"{hostname_prefix}-{n}", now, account=account
                )
        return wanted

    def create_job(
        self,
        region: str,
        servers: Sequence[tuple[str, str | None]],
        is_drill: bool,
        tags: dict[str, str] | None = None,
        account: str = ACCOUNT_ID,
    ) -> Job:
        """Create a LAUNCH job (StartRecovery semantics, validation already done)."""
        reg = self.region(region, account)
        missing = [sid for sid, _ in servers if sid not in reg.source_servers]
        if missing and self.strict_source_servers:
            raise DrsError(
                "ConflictException",
                f"Source server {missing[0]} does not exist in {region}",
                409,
                {"resourceId": missing[0], "resourceType": "SOURCE_SERVER"},
            )
        unique = list(dict(servers).items())  # a server appears once per job
        refusal = check(self.quotas, region, self.active_jobs(region, account), [sid for sid, _ in unique])
        if refusal is not None:
            raise DrsError(refusal.code, refusal.message, refusal.status, refusal.fields)
        self.create_source_servers(region, ids=missing, account=account)
        durations = self.drill if is_drill else self.recovery
        plan = tl.make_plan(durations, unique, is_drill, self.rng)
        job = self._add_job(
            region, "LAUNCH", "START_DRILL" if is_drill else "START_RECOVERY", is_drill, plan, tags, account
        )
        for sid, _ in unique:
            reg.source_servers[sid].last_job_id = job.job_id
        for sp in plan.servers:
            reg.recovery_instances[sp.recovery_instance_id] = (job.job_id, sp.source_server_id)
        return job

    def create_terminate_job(
        self, region: str, targets: list[tuple[Job, str]], account: str = ACCOUNT_ID
    ) -> Job:
        """Create a TERMINATE job for (launch job, source server) pairs."""
        plan = tl.make_plan(TERMINATE_DURATIONS, [(sid, None) for _, sid in targets], True, self.rng)
        # The terminate job reports the instance being terminated, not a new one.
        servers = tuple(
            tl.ServerPlan(
                source_server_id=sp.source_server_id,
                in_progress_at=sp.in_progress_at,
                launched_at=sp.launched_at,
                recovery_instance_id=launch.plan.server(sid).recovery_instance_id,
            )
            for sp, (launch, sid) in zip(plan.servers, targets, strict=True)
        )
        plan = tl.JobPlan(plan.started_at, servers, True)
        job = self._add_job(region, "TERMINATE", "TERMINATE_RECOVERY_INSTANCES", True, plan, None, account)
        for launch, sid in targets:
            launch.terminated_by[sid] = job.job_id
            job.terminates.append((launch.job_id, sid))
        return job

    def _add_job(
        self,
        region: str,
        type_: Literal["LAUNCH", "TERMINATE"],
        initiated_by: str,
        is_drill: bool,
        plan: tl.JobPlan,
        tags: dict[str, str] | None,
        account: str = ACCOUNT_ID,
    ) -> Job:
        job_id = self.new_id("drsjob-", 17)
        while job_id in self.jobs:
            job_id = self.new_id("drsjob-", 17)
        now, wall = self.clock.now(), self.clock.wall()
        timebase = Timebase(now, stamp=wall)
        job = Job(
            job_id,
            region,
            type_,
            initiated_by,
            is_drill,
            now,
            wall,
            plan,
            timebase,
            dict(tags or {}),
            account=account,
        )
        if self.manual:
            job.set_hold("manual", True, now, wall)
        self.jobs[job_id] = job
        self.region(region, account).jobs.append(job)
        for listener in self.job_listeners:
            listener(job)
        return job

    # ---- derived state ----------------------------------------------------------------
    def active_jobs(self, region: str, account: str = ACCOUNT_ID) -> list[tuple[str, list[str]]]:
        """(job ID, source servers) of every job of the account-region not yet COMPLETED."""
        if not self.quotas.enforced:
            return []
        now = self.clock.now()
        return [
            (job.job_id, [sp.source_server_id for sp in job.plan.servers])
            for job in self.region(region, account).jobs
            if tl.job_status(job.plan, job.local(now)) != "COMPLETED"
        ]

    def terminated_at(self, job: Job, source_server_id: str) -> float | None:
        """Wall-clock time the server's recovery instance was terminated, if it was."""
        tid = job.terminated_by.get(source_server_id)
        if tid is None:
            return None
        tjob = self.jobs[tid]
        now = self.clock.now()
        if tl.job_status(tjob.plan, tjob.local(now)) != "COMPLETED":
            return None
        return self.wall_of(tjob, tjob.plan.completed_at)

    def launch_status(self, job: Job, sp: tl.ServerPlan, t: float) -> tl.ServerState:
        """Server state including TERMINATE semantics (pure timeline + cross-job links)."""
        st = tl.server_state(sp, t)
        if job.type == "TERMINATE" and st.launch_status == "LAUNCHED":
            return tl.ServerState("TERMINATED", sp.recovery_instance_id, None, None)
        if st.launch_status == "LAUNCHED" and self.terminated_at(job, sp.source_server_id) is not None:
            return tl.ServerState("TERMINATED", st.recovery_instance_id, st.post_launch, None)
        return st

    def wall_of(self, job: Job, local_t: float) -> float | None:
        """Wall-clock moment the job's local time reached ``local_t``."""
        found = job.timebase.locate(local_t)
        if found is None:
            return None
        g, stamp = found
        wall = self.clock.wall_at(g)
        return stamp if wall is None else max(stamp, wall)

    # ---- control ----------------------------------------------------------------------
    def select(self, job_ids: list[str] | None) -> list[Job]:
        """Jobs by ID (unknown IDs are a 404), or every job when ``job_ids`` is None."""
        if job_ids is None:
            return list(self.jobs.values())
        unknown = [j for j in job_ids if j not in self.jobs]
        if unknown:
            raise ControlError(f"unknown job IDs: {', '.join(unknown[:5])}", 404)
        return [self.jobs[j] for j in job_ids]

    def set_manual(self, manual: bool) -> None:
        """Manual mode holds every existing and future job until advanced or released."""
        now, wall = self.clock.now(), self.clock.wall()
        self.manual = manual
        for job in self.jobs.values():
            job.set_hold("manual", manual, now, wall)

    def hold(self, job_ids: list[str] | None, on: bool) -> list[str]:
        """Freeze (or release) jobs in their current phase."""
        now, wall = self.clock.now(), self.clock.wall()
        jobs = self.select(job_ids)
        for job in jobs:
            job.set_hold("explicit", on, now, wall)
        return [j.job_id for j in jobs]

    def advance_phase(self, phase: str, job_ids: list[str] | None) -> list[str]:
        """Move jobs forward to ``phase`` (no-op for jobs already past it)."""
        if phase not in tl.PHASES:
            raise ControlError(f"phase must be one of {', '.join(tl.PHASES)}")
        now, wall = self.clock.now(), self.clock.wall()
        moved = []
        for job in self.select(job_ids):
            if job.timebase.jump_to(now, tl.phase_time(job.plan, cast(tl.Phase, phase)), wall):
                moved.append(job.job_id)
        return moved

    def finish_post_launch(self, status: str, job_ids: list[str] | None, reason: str | None) -> list[str]:
        """End post-launch runs with SUCCEEDED (alias COMPLETED) or FAILED."""
        outcome: tl.RunStatus
        if status in ("COMPLETED", "SUCCEEDED"):
            outcome = "SUCCEEDED"
        elif status == "FAILED":
            outcome = "FAILED"
        else:
            raise ControlError("status must be COMPLETED, SUCCEEDED or FAILED")
        if outcome == "FAILED" and not reason:
            reason = "Post-launch action failed (injected by drssim)"
        now = self.clock.now()
        changed = []
        for job in self.select(job_ids):
            new = tl.finish_post_launch(job.plan, job.local(now), outcome, reason)
            if new != job.plan:
                job.plan = new
                changed.append(job.job_id)
        return changed

    def fail_server(self, job_id: str, source_server_id: str, reason: str) -> None:
        """Make one participating server FAILED now."""
        job = self.select([job_id])[0]
        try:
            job.plan = tl.fail_server(job.plan, source_server_id, job.local(self.clock.now()), reason)
        except KeyError:
            raise ControlError(f"{source_server_id} is not part of {job_id}", 404) from None
        except ValueError as exc:
            raise ControlError(str(exc), 409) from None

    def bulk_jobs(
        self, region: str, count: int, servers_per_job: int, is_drill: bool, account: str = ACCOUNT_ID
    ) -> list[str]:
        """Create many jobs at once (load tests and benchmarks skip 10k HTTP round trips)."""
        ids = []
        for _ in range(count):
            servers = [(self.new_id("s-", 17), None) for _ in range(servers_per_job)]
            ids.append(self.create_job(region, servers, is_drill, account=account).job_id)
        return ids
