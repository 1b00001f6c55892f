"""The DRS capacity rules (poller.domain.capacity), exhaustively: what may start, in which order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.domain.capacity import (
    WAIT_PREFIX,
    Demand,
    Limit,
    Quota,
    Usage,
    active_jobs,
    admit,
    jobs_needed,
    limit_of_reason,
    never_fits,
    refused_wait,
    split,
    wait_expired,
)

WHERE = "123456789012/us-east-1"
SERVERS = [f"s-{n:017d}" for n in range(40)]

quotas = st.builds(
    Quota,
    max_jobs=st.integers(1, 6),
    max_servers=st.integers(1, 30),
    max_servers_per_job=st.integers(1, 8),
)
server_sets = st.lists(st.sampled_from(SERVERS), min_size=1, max_size=12, unique=True)


@st.composite
def usages(draw: st.DrawFn) -> Usage:
    jobs = draw(st.lists(server_sets, max_size=5))
    taken: set[str] = set()
    active: dict[str, frozenset[str]] = {}
    for n, servers in enumerate(jobs):
        free = frozenset(s for s in servers if s not in taken)  # DRS: one active job per server
        taken |= free
        active[f"drsjob-{n:017d}"] = free
    return Usage(active)


queues = st.lists(server_sets, max_size=8).map(
    lambda sets: [Demand(f"exec-{n}/Wave-1", tuple(s)) for n, s in enumerate(sets)]
)


@settings(max_examples=400, deadline=None)
@given(quota=quotas, usage=usages(), queue=queues)
def test_admitted_waves_never_take_more_than_the_quota_leaves(
    quota: Quota, usage: Usage, queue: list[Demand]
) -> None:
    decision = admit(quota, usage, queue, WHERE)
    admitted = [d for d in queue if d.ticket in decision.admitted]
    jobs = sum(jobs_needed(len(d.servers), quota) for d in admitted)
    servers = sum(len(d.servers) for d in admitted)
    if admitted:
        assert usage.job_count + jobs <= quota.max_jobs
        assert usage.server_count + servers <= quota.max_servers
    in_jobs = [s for d in admitted for s in d.servers] + list(usage.busy())
    assert len(in_jobs) == len(set(in_jobs)), "a source server in two active jobs"


@settings(max_examples=400, deadline=None)
@given(quota=quotas, usage=usages(), queue=queues)
def test_every_wave_is_admitted_or_waits_with_a_reason_naming_the_account_region(
    quota: Quota, usage: Usage, queue: list[Demand]
) -> None:
    decision = admit(quota, usage, queue, WHERE)
    assert set(decision.admitted) | set(decision.waiting) == {d.ticket for d in queue}
    assert not set(decision.admitted) & set(decision.waiting)
    assert list(decision.admitted) == [d.ticket for d in queue if d.ticket in decision.admitted]
    for wait in decision.waiting.values():
        assert wait.reason.startswith(WAIT_PREFIX) and WHERE in wait.reason
        assert limit_of_reason(wait.reason) == wait.limit


@settings(max_examples=400, deadline=None)
@given(quota=quotas, usage=usages(), queue=queues)
def test_first_come_first_served_a_later_wave_never_overtakes_one_waiting_for_jobs_or_servers(
    quota: Quota, usage: Usage, queue: list[Demand]
) -> None:
    decision = admit(quota, usage, queue, WHERE)
    position = {d.ticket: n for n, d in enumerate(queue)}
    held = [position[t] for t, w in decision.waiting.items() if w.limit in (Limit.JOBS, Limit.SERVERS)]
    for ticket in decision.admitted:
        assert all(position[ticket] < p for p in held)


@settings(max_examples=400, deadline=None)
@given(quota=quotas, usage=usages(), queue=queues)
def test_a_wave_waits_only_when_it_does_not_fit(quota: Quota, usage: Usage, queue: list[Demand]) -> None:
    """Maximal: the first wave held for jobs or servers really does not fit beside what was
    admitted before it; a wave waiting for a busy server really shares one."""
    decision = admit(quota, usage, queue, WHERE)
    jobs, servers = usage.job_count, usage.server_count
    busy = set(usage.busy())
    for demand in queue:
        wait = decision.waiting.get(demand.ticket)
        if wait is None:
            jobs += jobs_needed(len(demand.servers), quota)
            servers += len(demand.servers)
            busy |= set(demand.servers)
        elif wait.limit == Limit.SOURCE_SERVER_BUSY:
            assert busy & set(demand.servers)
        else:
            assert not busy & set(demand.servers)
            assert (
                jobs + jobs_needed(len(demand.servers), quota) > quota.max_jobs
                or servers + len(demand.servers) > quota.max_servers
            )
            break


def test_the_reason_says_how_many_jobs_are_active_where() -> None:
    quota = Quota(max_jobs=20, max_servers=500, max_servers_per_job=200)
    usage = Usage({f"drsjob-{n:017d}": frozenset({f"s-{n:017d}"}) for n in range(20)})
    decision = admit(quota, usage, [Demand("e/w", ("s-x",))], WHERE)
    assert decision.waiting["e/w"].reason == (
        "waiting for DRS capacity: 20 of 20 jobs active in 123456789012/us-east-1"
    )


def test_servers_limit_and_busy_server_reasons() -> None:
    quota = Quota(max_jobs=20, max_servers=10, max_servers_per_job=200)
    usage = Usage({"drsjob-00000000000000001": frozenset(SERVERS[:8])})
    decision = admit(quota, usage, [Demand("a", (SERVERS[0],)), Demand("b", tuple(SERVERS[10:13]))], WHERE)
    assert decision.waiting["a"].limit == Limit.SOURCE_SERVER_BUSY
    assert (
        f"source server {SERVERS[0]} is in active job drsjob-00000000000000001"
        in decision.waiting["a"].reason
    )
    assert decision.waiting["b"].reason == (
        "waiting for DRS capacity: 8 of 10 source servers in active jobs in 123456789012/us-east-1"
    )


def test_a_busy_server_does_not_hold_the_queue() -> None:
    quota = Quota(max_jobs=20, max_servers=500, max_servers_per_job=200)
    usage = Usage({"drsjob-00000000000000001": frozenset({SERVERS[0]})})
    decision = admit(quota, usage, [Demand("a", (SERVERS[0],)), Demand("b", (SERVERS[1],))], WHERE)
    assert decision.admitted == ("b",)


def test_a_large_wave_is_not_starved_by_small_ones_behind_it() -> None:
    quota = Quota(max_jobs=3, max_servers=500, max_servers_per_job=2)
    usage = Usage({"drsjob-00000000000000001": frozenset({"s-busy"})})
    big = Demand("big", tuple(SERVERS[:6]))  # 3 jobs: waits for the running one to finish
    decision = admit(quota, usage, [big, Demand("small", (SERVERS[10],))], WHERE)
    assert decision.admitted == ()
    assert decision.waiting["small"] == decision.waiting["big"]


@given(servers=st.lists(st.sampled_from(SERVERS), unique=True), per_job=st.integers(1, 200))
def test_split_keeps_every_server_once_in_order_within_the_per_job_limit(
    servers: list[str], per_job: int
) -> None:
    quota = Quota(max_jobs=20, max_servers=500, max_servers_per_job=per_job)
    chunks = split(servers, quota)
    assert [s for chunk in chunks for s in chunk] == servers
    assert all(1 <= len(chunk) <= per_job for chunk in chunks)
    assert len(chunks) == jobs_needed(len(servers), quota)


@given(quota=quotas, n=st.integers(1, 300))
def test_never_fits_exactly_when_the_empty_account_region_could_not_take_the_wave(
    quota: Quota, n: int
) -> None:
    fits_empty = admit(quota, Usage({}), [Demand("w", tuple(f"s-{i}" for i in range(n)))], WHERE).admitted
    reason = never_fits(n, quota, WHERE)
    assert (reason is None) == bool(fits_empty)
    if reason is not None:
        assert WHERE in reason


def test_active_jobs_reads_describe_jobs_items_and_ignores_completed_and_malformed_ones() -> None:
    items = [
        {"jobID": "drsjob-1", "status": "PENDING", "participatingServers": [{"sourceServerID": "s-1"}]},
        {
            "jobID": "drsjob-2",
            "status": "STARTED",
            "participatingServers": [{"sourceServerID": "s-2"}, "junk"],
        },
        {"jobID": "drsjob-3", "status": "COMPLETED", "participatingServers": [{"sourceServerID": "s-3"}]},
        {"jobID": 4, "status": "STARTED"},
        {"jobID": "drsjob-5", "status": "STARTED", "participatingServers": None},
    ]
    assert active_jobs(items) == {
        "drsjob-1": frozenset({"s-1"}),
        "drsjob-2": frozenset({"s-2"}),
        "drsjob-5": frozenset(),
    }


def test_refused_wait_and_the_wait_cap() -> None:
    wait = refused_wait("ServiceQuotaExceededException", "Exceeded", WHERE)
    assert wait.limit == Limit.REFUSED == limit_of_reason(wait.reason)
    assert limit_of_reason("StartRecovery will be retried: x") is None
    assert limit_of_reason(None) is None
    assert not wait_expired(100.0, 160.0, 60.0)
    assert wait_expired(100.0, 160.5, 60.0)


def test_a_quota_below_one_is_refused() -> None:
    try:
        Quota(0, 1, 1)
    except ValueError as err:
        assert "at least 1" in str(err)
    else:
        raise AssertionError("Quota(0, ...) was accepted")
