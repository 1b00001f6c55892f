"""The operator rules (poller.domain.operators) and the outcome rules they change, exhaustively.

Small state spaces are enumerated whole (every dependency status, every wave status of an
execution of up to three waves); larger ones (executions with servers in random states, random
dependency graphs) are drawn by hypothesis and checked against properties stated apart from the
code: what a retry may touch, what a skip frees, that a repeated action changes nothing.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.domain.completion import execution_outcome, server_succeeded, settle_wave
from poller.domain.model import Execution, Wave
from poller.domain.operators import (
    MAX_WAVE_RETRIES,
    OPERABLE_EXECUTION,
    RETRYABLE_WAVE,
    SATISFIED_DEPENDENCY,
    SKIPPABLE_WAVE,
    Gate,
    launch_gate,
    resume,
    retry_wave,
    servers_to_launch,
    skip_wave,
)
from poller.domain.statuses import (
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    PostLaunchStatus,
    ServerStatus,
    WaveStatus,
)
from poller.domain.timeout import is_timed_out, resolve_timeout
from poller.domain.trackable import MAX_REASON_CHARS
from poller.pipeline.launch import StartResult, claim_waves, record_results, wave_actions

from .builders import START, execution, job_id, server, server_id, wave

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = START + 100.0


def named(name: str, status: WaveStatus, deps: list[str] | None = None, **fields: Any) -> Wave:
    extra: dict[str, Any] = {"DependsOn": deps} if deps else {}
    return Wave(
        WaveName=name,
        Region="us-east-1",
        Status=status,
        Servers=[server(hash(name) % 1000 + 1, ServerStatus.LAUNCHING)],
        **extra,
        **fields,
    )


# ---- which waves may start ----------------------------------------------------------------
def test_launch_gate_over_every_pair_of_dependency_statuses_and_pause_state() -> None:
    for a, b, pause, resumed in itertools.product(WaveStatus, WaveStatus, (None, True), (None, NOW)):
        w = named("C", WaveStatus.PENDING, ["A", "B"], PauseBefore=pause, ResumedTime=resumed)
        gate = launch_gate(w, {"A": a, "B": b, "C": WaveStatus.PENDING})
        if a not in TERMINAL_WAVE or b not in TERMINAL_WAVE:
            assert gate.gate == Gate.WAIT, (a, b)
        elif a not in SATISFIED_DEPENDENCY or b not in SATISFIED_DEPENDENCY:
            first = "A" if a not in SATISFIED_DEPENDENCY else "B"
            assert (gate.gate, gate.dependency) == (Gate.BLOCKED, first), (a, b)
            assert gate.dependency_status == {"A": a, "B": b}[first]
        elif pause and resumed is None:
            assert gate.gate == Gate.PAUSE
        else:
            assert gate.gate == Gate.GO


def test_a_paused_dependency_holds_its_dependents_and_a_skipped_one_frees_them() -> None:
    w = named("B", WaveStatus.PENDING, ["A"])
    assert launch_gate(w, {"A": WaveStatus.PAUSED}).gate == Gate.WAIT
    assert launch_gate(w, {"A": WaveStatus.SKIPPED}).gate == Gate.GO
    assert launch_gate(w, {}).gate == Gate.GO  # unknown names are ignored, as the launcher always did


# ---- outcomes: optional servers, skipped waves ---------------------------------------------
@given(
    outcomes=st.lists(st.sampled_from(["ok", "failed", "post_failed"]), min_size=1, max_size=6),
    optional_mask=st.lists(st.booleans(), min_size=6, max_size=6),
    execution_type=st.sampled_from(ExecutionType),
)
@PROPS
def test_optional_servers_failing_alone_leave_the_wave_completed(
    outcomes: list[str], optional_mask: list[bool], execution_type: ExecutionType
) -> None:
    servers = []
    for i, outcome in enumerate(outcomes, start=1):
        if outcome == "failed":
            servers.append(server(i, ServerStatus.FAILED))
        else:
            post = PostLaunchStatus.FAILED if outcome == "post_failed" else PostLaunchStatus.COMPLETED
            servers.append(server(i, ServerStatus.LAUNCHED, post_launch=post))
    optional = [s.SourceServerId for s, m in zip(servers, optional_mask, strict=False) if m]
    w = wave(servers).model_copy(update={"OptionalServerIds": optional})
    settled = settle_wave(w, execution_type)

    failed = [s.SourceServerId for s in servers if not server_succeeded(s, execution_type)]
    critical = [f for f in failed if f not in optional]
    assert settled.FailedServerIds == failed
    if not critical:
        assert settled.Status == WaveStatus.COMPLETED
        if failed:
            assert settled.StatusReason is not None and "optional" in settled.StatusReason
            assert all(f in settled.StatusReason for f in failed)
    elif len(failed) == len(servers):
        assert settled.Status == WaveStatus.FAILED  # today's rule for critical failures
    else:
        assert settled.Status == WaveStatus.PARTIAL


def test_execution_outcome_over_every_combination_of_up_to_three_wave_statuses() -> None:
    for n in (1, 2, 3):
        for statuses in itertools.product(WaveStatus, repeat=n):
            waves = [named(f"W{i}", s) for i, s in enumerate(statuses)]
            got = execution_outcome(execution(waves))
            ran = [s for s in statuses if s != WaveStatus.SKIPPED]
            if any(s not in TERMINAL_WAVE for s in statuses):
                want = ExecutionStatus.POLLING
            elif WaveStatus.TIMEOUT in statuses:
                want = ExecutionStatus.TIMEOUT
            elif all(s == WaveStatus.COMPLETED for s in statuses):
                want = ExecutionStatus.COMPLETED
            elif ran and all(s == WaveStatus.FAILED for s in ran):
                want = ExecutionStatus.FAILED
            elif all(s == WaveStatus.CANCELLED for s in statuses):
                want = ExecutionStatus.CANCELLED
            else:
                want = ExecutionStatus.PARTIAL  # a skipped wave is not recovered
            assert got == want, statuses


# ---- random executions for the actions ------------------------------------------------------
SERVER_STATES = [
    ServerStatus.LAUNCHING,
    ServerStatus.PENDING,
    ServerStatus.IN_PROGRESS,
    ServerStatus.LAUNCHED,
    ServerStatus.FAILED,
    ServerStatus.TERMINATED,
]


@st.composite
def executions_with_history(draw: st.DrawFn) -> Execution:
    """1-4 waves, each depending on a random subset of earlier ones, in any status, with servers
    in states that fit it (a never-launched wave has servers without jobs)."""
    n_waves = draw(st.integers(1, 4))
    waves = []
    n = 0
    for w in range(n_waves):
        deps = [f"W{d}" for d in range(w) if draw(st.booleans())]
        status = draw(st.sampled_from(WaveStatus))
        launched = status not in (WaveStatus.PENDING, WaveStatus.PAUSED) and draw(st.booleans())
        servers = []
        for _ in range(draw(st.integers(1, 3))):
            n += 1
            if launched:
                servers.append(server(n, draw(st.sampled_from(SERVER_STATES))))
            else:
                failed = status == WaveStatus.FAILED
                state = ServerStatus.FAILED if failed else ServerStatus.LAUNCHING
                servers.append(server(n, state).model_copy(update={"RecoveryJobId": None}))
        extra: dict[str, Any] = {"DependsOn": deps} if deps else {}
        waves.append(
            Wave(
                WaveName=f"W{w}",
                Region="us-east-1",
                Status=status,
                Servers=servers,
                PauseBefore=draw(st.sampled_from([None, True])),
                RetryCount=draw(st.sampled_from([None, 1, MAX_WAVE_RETRIES])),
                LaunchTokens=["old-token"],
                LaunchAttempts=2,
                **extra,
            )
        )
    return execution(
        waves,
        draw(st.sampled_from(ExecutionType)),
        draw(st.one_of(st.sampled_from(sorted(OPERABLE_EXECUTION)), st.sampled_from(ExecutionStatus))),
    ).model_copy(update={"EndTime": NOW - 1})


def _statuses(e: Execution) -> dict[str, WaveStatus]:
    return {w.WaveName: w.Status for w in e.Waves}


def _never_launched(e: Execution, w: Wave) -> bool:
    st_ = _statuses(e)
    deps = [d for d in (getattr(w, "DependsOn", None) or []) if d in st_]
    return w.Status == WaveStatus.FAILED and any(st_[d] not in SATISFIED_DEPENDENCY for d in deps)


@given(e=executions_with_history(), pick=st.integers(0, 3))
@PROPS
def test_retry_relaunches_the_failed_servers_only_and_is_idempotent(e: Execution, pick: int) -> None:
    target = e.Waves[pick % len(e.Waves)]
    decision = retry_wave(e, target.WaveName, NOW)
    failed = [s for s in target.Servers if not server_succeeded(s, e.ExecutionType)]
    under_way = bool(target.RetryCount) and target.Status in (WaveStatus.PENDING, WaveStatus.LAUNCHING)
    allowed = (
        e.Status in OPERABLE_EXECUTION
        and target.Status in RETRYABLE_WAVE
        and not _never_launched(e, target)
        and bool(failed)
        and (target.RetryCount or 0) < MAX_WAVE_RETRIES
    )
    if under_way:
        assert not decision.changed and decision.refusal is None and decision.execution is e
        return
    if not allowed:
        assert decision.refusal and not decision.changed and decision.execution is e
        return
    after = decision.execution
    assert decision.changed and decision.refusal is None
    new = next(w for w in after.Waves if w.WaveName == target.WaveName)
    assert new.Status == WaveStatus.PENDING and new.FailedServerIds == []
    assert new.RetryCount == (target.RetryCount or 0) + 1
    assert getattr(new, "LaunchTokens", None) is None and getattr(new, "LaunchAttempts", None) is None
    retried = {f.SourceServerId for f in failed}
    assert servers_to_launch(new) == [s for s in new.Servers if s.SourceServerId in retried]
    for old, now_ in zip(target.Servers, new.Servers, strict=True):
        if old in failed:
            assert now_.Status == ServerStatus.LAUNCHING and now_.RecoveryJobId is None
            assert now_.InstanceId is None and now_.FailureReason is None
            assert old.RecoveryJobId is None or old.RecoveryJobId in (new.PreviousRecoveryJobIds or [])
        else:
            assert now_ == old  # a launched server keeps its job
    assert len(new.PreviousRecoveryJobIds or []) <= MAX_WAVE_RETRIES
    assert len(new.StatusReason or "") <= MAX_REASON_CHARS
    # other waves: untouched, or (failed unlaunched downstream of the target) back to PENDING
    for before, w in zip(e.Waves, after.Waves, strict=True):
        if w.WaveName != target.WaveName and w != before:
            assert _never_launched(e, before) and w.Status == WaveStatus.PENDING
    assert after.Status == ExecutionStatus.POLLING and after.EndTime is None
    again = retry_wave(after, target.WaveName, NOW + 1)
    assert not again.changed and again.refusal is None and again.execution is after


@given(e=executions_with_history(), pick=st.integers(0, 3))
@PROPS
def test_skip_marks_the_wave_skipped_frees_its_dependents_and_is_idempotent(e: Execution, pick: int) -> None:
    target = e.Waves[pick % len(e.Waves)]
    decision = skip_wave(e, target.WaveName, NOW)
    if target.Status == WaveStatus.SKIPPED:
        assert not decision.changed and decision.refusal is None
        return
    if e.Status not in OPERABLE_EXECUTION or target.Status not in SKIPPABLE_WAVE:
        assert decision.refusal and decision.execution is e
        return
    after = decision.execution
    new = next(w for w in after.Waves if w.WaveName == target.WaveName)
    assert new.Status == WaveStatus.SKIPPED and new.Servers == target.Servers
    assert new.StatusReason is not None and new.StatusReason.startswith("skipped by an operator")
    for before, w in zip(e.Waves, after.Waves, strict=True):
        if w.WaveName != target.WaveName and w != before:
            assert _never_launched(e, before) and w.Status == WaveStatus.PENDING
        if target.WaveName in (getattr(w, "DependsOn", None) or []) and w.Status == WaveStatus.PENDING:
            assert launch_gate(w, _statuses(after)).dependency != target.WaveName
    assert after.Status == execution_outcome(after)
    assert (after.EndTime is None) == (after.Status == ExecutionStatus.POLLING)
    again = skip_wave(after, target.WaveName, NOW + 1)
    assert not again.changed and again.refusal is None and again.execution is after


@given(e=executions_with_history(), by_name=st.booleans(), pick=st.integers(0, 3))
@PROPS
def test_resume_releases_paused_waves_only_and_is_idempotent(e: Execution, by_name: bool, pick: int) -> None:
    name = e.Waves[pick % len(e.Waves)].WaveName if by_name else None
    decision = resume(e, name, NOW)
    targets = [w for w in e.Waves if name is None or w.WaveName == name]
    paused = [w.WaveName for w in targets if w.Status == WaveStatus.PAUSED]
    if not paused:
        assert not decision.changed and decision.execution is e
        assert (decision.refusal is None) == any(w.ResumedTime is not None for w in targets)
        return
    after = decision.execution
    assert decision.changed and list(decision.waves) == sorted(paused)
    for before, w in zip(e.Waves, after.Waves, strict=True):
        if before.WaveName in paused:
            assert w.Status == WaveStatus.PENDING and w.ResumedTime == NOW
            assert launch_gate(w, _statuses(after)).gate != Gate.PAUSE
        else:
            assert w == before
    again = resume(after, name, NOW + 1)
    if name is not None or not any(w.Status == WaveStatus.PAUSED for w in after.Waves):
        assert not again.changed and again.refusal is None


def test_unknown_wave_names_are_lookup_errors() -> None:
    e = execution([named("A", WaveStatus.FAILED)])
    for action in (lambda: retry_wave(e, "nope", NOW), lambda: skip_wave(e, "nope", NOW)):
        try:
            action()
        except LookupError as err:
            assert "nope" in str(err)
        else:
            raise AssertionError("no LookupError")


# ---- the timeout does not run while paused ---------------------------------------------------
@given(elapsed=st.floats(0, 10 * 86400), resumed_after=st.floats(0, 86400))
@PROPS
def test_the_timeout_does_not_run_while_paused_and_restarts_at_the_resume(
    elapsed: float, resumed_after: float
) -> None:
    done = wave([server(1, ServerStatus.LAUNCHED)], "A", WaveStatus.COMPLETED)
    paused = named("B", WaveStatus.PAUSED, ["A"], PauseBefore=True)
    e = execution([done, paused])
    assert not is_timed_out(e, START + elapsed, 1800.0)
    assert resolve_timeout(e, {}, START + elapsed).execution.Waves[1].Status == WaveStatus.PAUSED
    resumed = resume(e, None, START + resumed_after).execution
    assert is_timed_out(resumed, START + resumed_after + elapsed, 1800.0) == (elapsed > 1800.0)


# ---- the launcher calls the rules ------------------------------------------------------------
def _sequential(pause_second: bool = True) -> Execution:
    first = Wave(
        WaveName="A",
        Region="us-east-1",
        Status=WaveStatus.PENDING,
        Servers=[server(1).model_copy(update={"RecoveryJobId": None})],
    )
    second = Wave(
        WaveName="B",
        Region="us-east-1",
        Status=WaveStatus.PENDING,
        Servers=[server(2).model_copy(update={"RecoveryJobId": None})],
        PauseBefore=pause_second or None,
        DependsOn=["A"],
    )
    return execution([first, second], status=ExecutionStatus.PENDING)


def test_the_launcher_pauses_a_wave_when_its_turn_comes_and_launches_it_once_resumed() -> None:
    e = _sequential()
    actions = wave_actions(e, NOW, 120.0)
    assert actions.launch == [0] and actions.pause == []
    claimed = claim_waves(e, actions, {0: "t1"}, NOW)
    e = record_results(claimed, {0: StartResult("started", "t1", job_id(1))}, NOW, 5, 120.0)
    done = e.Waves[0].model_copy(
        update={"Status": WaveStatus.COMPLETED, "Servers": [server(1, ServerStatus.LAUNCHED)]}
    )
    e = e.model_copy(update={"Waves": [done, e.Waves[1]]})
    actions = wave_actions(e, NOW, 120.0)
    assert actions.pause == [1] and actions.launch == []
    paused = claim_waves(e, actions, {}, NOW)
    assert paused.Waves[1].Status == WaveStatus.PAUSED and paused.Status == ExecutionStatus.POLLING
    assert paused.StatusReason is not None and "resume" in paused.StatusReason
    assert not wave_actions(paused, NOW + 3600, 120.0)  # it waits, however long
    resumed = resume(paused, None, NOW + 3600).execution
    assert wave_actions(resumed, NOW + 3600, 120.0).launch == [1]


def test_a_retried_wave_starts_one_job_for_its_failed_servers_only() -> None:
    servers = [server(1, ServerStatus.LAUNCHED, job=7), server(2, ServerStatus.FAILED, job=7)]
    e = execution([wave(servers, "A", WaveStatus.PARTIAL)], status=ExecutionStatus.PARTIAL)
    retried = retry_wave(e, "A", NOW).execution
    actions = wave_actions(retried, NOW, 120.0)
    assert actions.launch == [0]
    assert [s.SourceServerId for s in servers_to_launch(retried.Waves[0])] == [server_id(2)]
    claimed = claim_waves(retried, actions, {0: "t2"}, NOW)
    after = record_results(claimed, {0: StartResult("started", "t2", job_id(8))}, NOW, 5, 120.0)
    assert [s.RecoveryJobId for s in after.Waves[0].Servers] == [job_id(7), job_id(8)]
    assert after.Waves[0].PreviousRecoveryJobIds == [job_id(7)]
    assert after.Waves[0].Status == WaveStatus.LAUNCHING and after.Status == ExecutionStatus.POLLING
    # a late answer for a claim of the first attempt cannot land on the retry
    stale = record_results(claimed, {0: StartResult("started", "t-old", job_id(9))}, NOW, 5, 120.0)
    assert job_id(9) not in [s.RecoveryJobId for s in stale.Waves[0].Servers]


def test_a_retry_refused_by_drs_fails_only_the_retried_servers() -> None:
    servers = [server(1, ServerStatus.LAUNCHED, job=7), server(2, ServerStatus.FAILED, job=7)]
    e = execution([wave(servers, "A", WaveStatus.PARTIAL)], status=ExecutionStatus.PARTIAL)
    retried = retry_wave(e, "A", NOW).execution
    claimed = claim_waves(retried, wave_actions(retried, NOW, 120.0), {0: "t2"}, NOW)
    after = record_results(claimed, {0: StartResult("rejected", "t2", message="no")}, NOW, 5, 120.0)
    assert after.Waves[0].Status == WaveStatus.PARTIAL
    assert after.Waves[0].FailedServerIds == [server_id(2)]
    assert after.Status == ExecutionStatus.PARTIAL
