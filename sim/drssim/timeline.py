"""Pure timeline rules: the state of a job at job-local time ``t`` given its plan.

No I/O, no clock, no randomness except in :func:`make_plan` (which takes the RNG as an
argument). Every control operation (fail a server, finish post-launch actions, force a
phase) is expressed as a new immutable plan or a new local time, so the rules here stay
the single definition of "what DRS shows at time t".

Job-local time 0 is the job's creation. Phases as users see them (drill defaults):

* job PENDING, servers PENDING            (~13.5 min)
* job STARTED, servers PENDING            (~30-60 s)
* job STARTED, servers IN_PROGRESS        (~6.3 min, jittered per server)
* servers LAUNCHED (or FAILED); the job is COMPLETED once every server is terminal.

Recovery jobs (``is_drill=False``) are a bit longer and then run post-launch actions per
server: runs appear IN_PROGRESS when the server is LAUNCHED and end SUCCEEDED or FAILED,
possibly after the job is already COMPLETED.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Literal

JobStatus = Literal["PENDING", "STARTED", "COMPLETED"]
LaunchStatus = Literal["PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED"]
RunStatus = Literal["IN_PROGRESS", "SUCCEEDED", "FAILED"]
Phase = Literal["PENDING", "STARTED", "IN_PROGRESS", "COMPLETED"]
PHASES: tuple[Phase, ...] = ("PENDING", "STARTED", "IN_PROGRESS", "COMPLETED")

HEX = "0123456789abcdef"
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class Durations:
    """Mean phase durations in simulated seconds, and the per-server jitter."""

    pending: float
    started: float
    in_progress: float
    post_launch: float
    jitter: float

    @classmethod
    def drill(cls) -> Durations:
        """What users observe for drills: 13.5 min pending, 30-60 s started, 6.3 min launch."""
        return cls(pending=810.0, started=45.0, in_progress=378.0, post_launch=0.0, jitter=15.0)

    @classmethod
    def recovery(cls) -> Durations:
        """Recovery is a bit longer and adds ~3 min of post-launch actions."""
        return cls(pending=870.0, started=50.0, in_progress=420.0, post_launch=180.0, jitter=15.0)


@dataclass(frozen=True, slots=True)
class ServerPlan:
    """One participating server's schedule in job-local seconds, plus overrides."""

    source_server_id: str
    in_progress_at: float
    launched_at: float
    recovery_instance_id: str
    post_launch_end: float | None = None  # None: no post-launch actions (drills)
    post_launch_outcome: RunStatus = "SUCCEEDED"
    post_launch_reason: str | None = None
    fail_at: float | None = None
    fail_reason: str | None = None
    recovery_snapshot_id: str | None = None

    @property
    def terminal_at(self) -> float:
        """When the server stops changing launch status (LAUNCHED or FAILED)."""
        if self.fail_at is not None and self.fail_at < self.launched_at:
            return self.fail_at
        return self.launched_at

    @property
    def fails(self) -> bool:
        """Whether the server ends FAILED rather than LAUNCHED."""
        return self.fail_at is not None and self.fail_at < self.launched_at


@dataclass(frozen=True, slots=True)
class JobPlan:
    """A job's schedule in job-local seconds."""

    started_at: float
    servers: tuple[ServerPlan, ...]
    is_drill: bool
    # A job completes when every server is terminal (never before it started). Derived
    # once per plan because DescribeJobs reads it for every job on every call.
    completed_at: float = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "completed_at", max([self.started_at, *(s.terminal_at for s in self.servers)])
        )

    def server(self, source_server_id: str) -> ServerPlan:
        """The plan of one participating server (KeyError if absent)."""
        for sp in self.servers:
            if sp.source_server_id == source_server_id:
                return sp
        raise KeyError(source_server_id)

    def with_server(self, sp: ServerPlan) -> JobPlan:
        """A copy with one server plan replaced."""
        servers = tuple(sp if s.source_server_id == sp.source_server_id else s for s in self.servers)
        return replace(self, servers=servers)


@dataclass(frozen=True, slots=True)
class ServerState:
    """What DescribeJobs shows for a participating server at some time."""

    launch_status: LaunchStatus
    recovery_instance_id: str | None
    post_launch: RunStatus | None  # None: no runs visible
    failure_reason: str | None


def job_status(plan: JobPlan, t: float) -> JobStatus:
    """Job status at local time ``t``."""
    if t >= plan.completed_at:
        return "COMPLETED"
    if t >= plan.started_at:
        return "STARTED"
    return "PENDING"


def server_state(sp: ServerPlan, t: float) -> ServerState:
    """Participating-server state at local time ``t``."""
    if sp.fails and sp.fail_at is not None and t >= sp.fail_at:
        return ServerState("FAILED", None, None, sp.fail_reason)
    if t < sp.in_progress_at:
        return ServerState("PENDING", None, None, None)
    if t < sp.launched_at:
        return ServerState("IN_PROGRESS", None, None, None)
    return ServerState("LAUNCHED", sp.recovery_instance_id, post_launch_status(sp, t), None)


def post_launch_status(sp: ServerPlan, t: float) -> RunStatus | None:
    """Post-launch run status: None before launch or for drills."""
    if sp.post_launch_end is None or sp.fails or t < sp.launched_at:
        return None
    if t < sp.post_launch_end:
        return "IN_PROGRESS"
    return sp.post_launch_outcome


def phase_time(plan: JobPlan, phase: Phase) -> float:
    """Earliest local time at which the whole job shows ``phase``.

    IN_PROGRESS means every non-failed server is IN_PROGRESS; COMPLETED means every
    server is terminal and the job is COMPLETED.
    """
    if phase == "PENDING":
        return 0.0
    if phase == "STARTED":
        return plan.started_at
    if phase == "IN_PROGRESS":
        live = [s.in_progress_at for s in plan.servers if not s.fails]
        return max([plan.started_at, *live])
    return plan.completed_at


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change at local time ``t``: ``subject`` is "job" or a source server ID."""

    t: float
    subject: str
    field: Literal["status", "launchStatus", "postLaunch"]
    value: str


def transitions(plan: JobPlan) -> list[Transition]:
    """Every state change of the job in time order (including future ones)."""
    out = [
        Transition(0.0, "job", "status", "PENDING"),
        Transition(plan.started_at, "job", "status", "STARTED"),
    ]
    for sp in plan.servers:
        sid = sp.source_server_id
        out.append(Transition(0.0, sid, "launchStatus", "PENDING"))
        if sp.fails and sp.fail_at is not None:
            if sp.fail_at > sp.in_progress_at:
                out.append(Transition(sp.in_progress_at, sid, "launchStatus", "IN_PROGRESS"))
            out.append(Transition(sp.fail_at, sid, "launchStatus", "FAILED"))
            continue
        out.append(Transition(sp.in_progress_at, sid, "launchStatus", "IN_PROGRESS"))
        out.append(Transition(sp.launched_at, sid, "launchStatus", "LAUNCHED"))
        if sp.post_launch_end is not None:
            out.append(Transition(sp.launched_at, sid, "postLaunch", "IN_PROGRESS"))
            out.append(
                Transition(max(sp.post_launch_end, sp.launched_at), sid, "postLaunch", sp.post_launch_outcome)
            )
    out.append(Transition(plan.completed_at, "job", "status", "COMPLETED"))
    out.sort(key=lambda tr: tr.t)
    return out


@dataclass(frozen=True, slots=True)
class LogEvent:
    """A DescribeJobLogItems entry at local time ``t`` (event names from the model enum)."""

    t: float
    event: str
    source_server_id: str | None = None
    target_instance_id: str | None = None
    raw_error: str | None = None


def log_events(plan: JobPlan, t: float) -> list[LogEvent]:
    """Job log items that have happened by local time ``t``, in time order."""
    events: list[LogEvent] = [LogEvent(plan.started_at, "JOB_START")]
    for sp in plan.servers:
        sid = sp.source_server_id
        span = sp.launched_at - sp.in_progress_at
        first = "USING_PREVIOUS_SNAPSHOT" if sp.recovery_snapshot_id else "SNAPSHOT_START"
        steps = [(0.0, first), (0.15, "CONVERSION_START"), (0.7, "CONVERSION_END"), (0.75, "LAUNCH_START")]
        if not sp.recovery_snapshot_id:
            steps.insert(1, (0.1, "SNAPSHOT_END"))
        end = sp.terminal_at
        for frac, name in steps:
            at = sp.in_progress_at + frac * span
            if at < end or (not sp.fails and at <= end):
                target = sp.recovery_instance_id if name == "LAUNCH_START" else None
                events.append(LogEvent(at, name, sid, target))
        if sp.fails and sp.fail_at is not None:
            events.append(LogEvent(sp.fail_at, "LAUNCH_FAILED", sid, None, sp.fail_reason))
    events.append(LogEvent(plan.completed_at, "JOB_END"))
    events.sort(key=lambda e: e.t)
    return [e for e in events if e.t <= t]


def random_id(rng: random.Random, prefix: str, n: int, alphabet: str = ALNUM) -> str:
    """``prefix`` followed by ``n`` characters of ``alphabet`` drawn from ``rng``."""
    return prefix + "".join(rng.choices(alphabet, k=n))


def make_plan(
    durations: Durations,
    servers: list[tuple[str, str | None]],
    is_drill: bool,
    rng: random.Random,
) -> JobPlan:
    """Draw a plan: ``servers`` is ``[(sourceServerID, recoverySnapshotID or None)]``.

    Jitter is bounded so that the phase boundaries stay well-ordered across servers: every
    server is IN_PROGRESS before the first one launches, and every post-launch run is still
    IN_PROGRESS when the job completes (as users see on real recoveries).
    """
    j = durations.jitter
    pending = max(0.0, durations.pending + rng.uniform(-j, j))
    started = max(1.0, durations.started + rng.uniform(-j, j))
    raw: list[tuple[str, str | None, float, float]] = []
    for sid, snap in servers:
        ip_at = pending + started + rng.uniform(0, j / 3)
        launched = ip_at + max(2 * j + 1.0, durations.in_progress + rng.uniform(-j, j))
        raw.append((sid, snap, ip_at, launched))
    last_launch = max(r[3] for r in raw)
    plans = []
    for sid, snap, ip_at, launched in raw:
        pl_end = None
        if not is_drill and durations.post_launch > 0:
            pl = max(durations.post_launch + rng.uniform(-j, j), last_launch - launched + 1.0)
            pl_end = launched + pl
        plans.append(
            ServerPlan(
                source_server_id=sid,
                in_progress_at=ip_at,
                launched_at=launched,
                recovery_instance_id=random_id(rng, "i-", 17, HEX),
                post_launch_end=pl_end,
                recovery_snapshot_id=snap,
            )
        )
    return JobPlan(started_at=pending, servers=tuple(plans), is_drill=is_drill)


def fail_server(plan: JobPlan, source_server_id: str, t: float, reason: str) -> JobPlan:
    """Plan in which ``source_server_id`` fails at local time ``t`` (must not be launched)."""
    sp = plan.server(source_server_id)
    if t >= sp.launched_at:
        raise ValueError(f"{source_server_id} already launched")
    return plan.with_server(replace(sp, fail_at=t, fail_reason=reason))


def finish_post_launch(
    plan: JobPlan, t: float, outcome: RunStatus, reason: str | None, source_server_ids: set[str] | None = None
) -> JobPlan:
    """Plan in which post-launch runs end with ``outcome``.

    Runs already in progress at ``t`` end at ``t``; runs not started yet keep their
    scheduled duration but take ``outcome``. Runs already finished are left alone.
    """
    out = plan
    for sp in plan.servers:
        if sp.post_launch_end is None or sp.fails:
            continue
        if source_server_ids is not None and sp.source_server_id not in source_server_ids:
            continue
        if t >= sp.post_launch_end:
            continue
        end = t if t >= sp.launched_at else sp.post_launch_end
        new = replace(sp, post_launch_end=end, post_launch_outcome=outcome, post_launch_reason=reason)
        out = out.with_server(new)
    return out
