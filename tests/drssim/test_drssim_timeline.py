"""Pure tests of drssim.timeline and drssim.clock (no I/O)."""

from __future__ import annotations

import random

import pytest
from drssim import timeline as tl
from drssim.clock import SimClock, Timebase
from hypothesis import given, settings
from hypothesis import strategies as st


def _plan(n: int = 3, is_drill: bool = True, seed: int = 1) -> tl.JobPlan:
    rng = random.Random(seed)
    servers = [(f"s-{i:017d}", None) for i in range(n)]
    durations = tl.Durations.drill() if is_drill else tl.Durations.recovery()
    return tl.make_plan(durations, servers, is_drill, rng)


def test_drill_phases_in_order_with_user_visible_durations() -> None:
    plan = _plan(3)
    assert 795 <= plan.started_at <= 825  # ~13.5 min pending
    assert tl.job_status(plan, plan.started_at - 0.01) == "PENDING"
    assert tl.job_status(plan, plan.started_at) == "STARTED"
    # STARTED with servers still PENDING for 30-60 s (plus jitter)
    first_ip = min(s.in_progress_at for s in plan.servers)
    assert 29 <= first_ip - plan.started_at <= 66
    assert all(tl.server_state(s, plan.started_at).launch_status == "PENDING" for s in plan.servers)
    t_ip = tl.phase_time(plan, "IN_PROGRESS")
    assert {tl.server_state(s, t_ip).launch_status for s in plan.servers} == {"IN_PROGRESS"}
    t_done = tl.phase_time(plan, "COMPLETED")
    assert tl.job_status(plan, t_done - 0.01) == "STARTED"
    assert tl.job_status(plan, t_done) == "COMPLETED"
    assert {tl.server_state(s, t_done).launch_status for s in plan.servers} == {"LAUNCHED"}
    for s in plan.servers:
        assert 340 <= s.launched_at - s.in_progress_at <= 400  # ~6.3 min launch
        st_ = tl.server_state(s, t_done)
        assert st_.recovery_instance_id is not None
        assert st_.recovery_instance_id.startswith("i-") and len(st_.recovery_instance_id) == 19
        assert st_.post_launch is None  # drills have no post-launch actions


def test_recovery_runs_post_launch_after_job_completed() -> None:
    plan = _plan(4, is_drill=False)
    done = tl.phase_time(plan, "COMPLETED")
    assert tl.job_status(plan, done) == "COMPLETED"
    assert {tl.post_launch_status(s, done) for s in plan.servers} == {"IN_PROGRESS"}
    later = max(s.post_launch_end or 0 for s in plan.servers)
    assert {tl.post_launch_status(s, later) for s in plan.servers} == {"SUCCEEDED"}
    assert tl.post_launch_status(plan.servers[0], plan.servers[0].launched_at - 1) is None


def test_fail_server_makes_it_failed_and_job_completes_when_others_terminal() -> None:
    plan = _plan(2)
    sid = plan.servers[0].source_server_id
    t = tl.phase_time(plan, "IN_PROGRESS") + 1
    failed = tl.fail_server(plan, sid, t, "boom")
    st_ = tl.server_state(failed.server(sid), t)
    assert (st_.launch_status, st_.failure_reason) == ("FAILED", "boom")
    assert tl.job_status(failed, t) == "STARTED"  # the other server is still launching
    assert failed.completed_at == failed.servers[1].launched_at
    events = [e.event for e in tl.log_events(failed, failed.completed_at)]
    assert "LAUNCH_FAILED" in events and events[-1] == "JOB_END"
    with pytest.raises(ValueError):
        tl.fail_server(plan, sid, plan.servers[0].launched_at, "too late")


def test_all_servers_failed_while_pending_completes_job_after_start() -> None:
    plan = _plan(1)
    failed = tl.fail_server(plan, plan.servers[0].source_server_id, 10.0, "no capacity")
    assert tl.server_state(failed.servers[0], 10.0).launch_status == "FAILED"
    assert failed.completed_at == failed.started_at


def test_finish_post_launch_failed_now() -> None:
    plan = _plan(2, is_drill=False)
    t = plan.completed_at
    new = tl.finish_post_launch(plan, t, "FAILED", "ssm timeout")
    assert {tl.post_launch_status(s, t) for s in new.servers} == {"FAILED"}
    launched_before = [s for s in new.servers if s.launched_at < t - 0.001]
    assert {tl.post_launch_status(s, t - 0.001) for s in launched_before} == {"IN_PROGRESS"}
    # before launch: outcome changes but the schedule is kept
    early = tl.finish_post_launch(plan, 0.0, "FAILED", None)
    assert early.servers[0].post_launch_end == plan.servers[0].post_launch_end
    assert tl.post_launch_status(early.servers[0], early.servers[0].post_launch_end or 0) == "FAILED"


def test_log_events_only_up_to_t_and_use_model_enum() -> None:
    plan = _plan(1)
    assert tl.log_events(plan, plan.started_at - 1) == []
    assert [e.event for e in tl.log_events(plan, plan.started_at)] == ["JOB_START"]
    allowed = {
        "JOB_START", "SNAPSHOT_START", "SNAPSHOT_END", "USING_PREVIOUS_SNAPSHOT", "CONVERSION_START",
        "CONVERSION_END", "LAUNCH_START", "LAUNCH_FAILED", "JOB_END",
    }  # fmt: skip
    events = tl.log_events(plan, plan.completed_at)
    assert {e.event for e in events} <= allowed
    assert [e.t for e in events] == sorted(e.t for e in events)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 8),
    seed=st.integers(0, 10_000),
    drill=st.booleans(),
    frac=st.floats(0, 1.3),
    fail=st.one_of(st.none(), st.floats(0, 1.0)),
)
def test_transitions_agree_with_state_at_any_time(
    n: int, seed: int, drill: bool, frac: float, fail: float | None
) -> None:
    plan = _plan(n, drill, seed)
    if fail is not None:
        sp = plan.servers[0]
        plan = tl.fail_server(plan, sp.source_server_id, fail * (sp.launched_at - 0.01), "x")
    end = max([plan.completed_at, *(s.post_launch_end or 0 for s in plan.servers)])
    t = frac * end
    trs = [tr for tr in tl.transitions(plan) if tr.t <= t]
    last_job = [tr.value for tr in trs if tr.subject == "job"][-1]
    assert last_job == tl.job_status(plan, t)
    for sp in plan.servers:
        mine = [tr for tr in trs if tr.subject == sp.source_server_id]
        launch = [tr.value for tr in mine if tr.field == "launchStatus"][-1]
        assert launch == tl.server_state(sp, t).launch_status
        post = [tr.value for tr in mine if tr.field == "postLaunch"]
        assert (post[-1] if post else None) == tl.post_launch_status(sp, t)
    # ordering invariants the poller relies on
    if fail is None:
        assert max(s.in_progress_at for s in plan.servers) < min(s.launched_at for s in plan.servers)
        if not drill:
            assert all((s.post_launch_end or 0) > plan.completed_at for s in plan.servers)


def test_timebase_hold_jump_and_inverse() -> None:
    tb = Timebase(100.0)
    assert tb.at(110.0) == 10.0
    tb.set_rate(110.0, 0.0)  # hold at local 10
    assert tb.at(500.0) == 10.0
    assert tb.base_of(15.0) is None  # not reached while frozen
    assert tb.jump_to(500.0, 50.0)  # forced phase at base 500
    assert not tb.jump_to(500.0, 20.0)  # never backwards
    tb.set_rate(600.0, 1.0)
    assert tb.at(610.0) == 60.0
    assert tb.base_of(5.0) == 105.0
    assert tb.base_of(30.0) == 500.0  # crossed by the jump
    assert tb.base_of(55.0) == 605.0


def test_sim_clock_scales_and_steps_with_injected_wall() -> None:
    wall = [1000.0]
    clock = SimClock(time_scale=60.0, wall=lambda: wall[0])
    wall[0] += 10
    assert clock.now() == pytest.approx(600.0)
    assert clock.advance(100) == pytest.approx(700.0)
    assert clock.wall_at(300.0) == pytest.approx(1005.0)
    assert clock.wall_at(650.0) == pytest.approx(1010.0)  # reached by the manual step
    wall[0] += 1
    assert clock.now() == pytest.approx(760.0)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_timebase_stamps_disambiguate_changes_under_a_frozen_base() -> None:
    tb = Timebase(0.0, stamp=1000.0)
    tb.set_rate(0.0, 0.0, stamp=1001.0)  # held at creation
    tb.jump_to(0.0, 50.0, stamp=1005.0)  # forced phase while the base did not move
    tb.jump_to(0.0, 80.0, stamp=1009.0)
    assert tb.locate(0.0) == (0.0, 1000.0)
    assert tb.locate(40.0) == (0.0, 1005.0)
    assert tb.locate(60.0) == (0.0, 1009.0)
    assert tb.locate(81.0) is None
