"""Fair shares between replicas (poller.domain.share), exhaustively."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from poller.domain.share import fair_share, plan_share, slack

IDS = [f"exec-{n:04d}" for n in range(400)]


@st.composite
def situations(draw: st.DrawFn) -> tuple[int, int, set[str], list[str], float]:
    total = draw(st.integers(0, 400))
    pool = IDS[:total]
    tracked = set(draw(st.lists(st.sampled_from(pool), unique=True))) if pool else set()
    rest = [i for i in pool if i not in tracked]
    free = draw(st.lists(st.sampled_from(rest), unique=True)) if rest else []
    live = draw(st.integers(1, 8))
    fraction = draw(st.sampled_from([0.0, 0.05, 0.1, 0.2]))
    return total, live, tracked, free, fraction


@settings(max_examples=500, deadline=None)
@given(situations())
def test_a_replica_never_ends_above_its_share_plus_slack_and_never_takes_past_its_share(
    situation: tuple[int, int, set[str], list[str], float],
) -> None:
    total, live, tracked, free, fraction = situation
    plan = plan_share(total, live, tracked, free, fraction)
    after = len(plan.keep) + len(plan.take)
    assert after <= plan.share + slack(plan.share, fraction)
    if plan.take:
        assert after <= plan.share
    assert set(plan.keep) | set(plan.shed) == tracked and not set(plan.keep) & set(plan.shed)
    assert set(plan.take) <= set(free) and not set(plan.take) & tracked
    assert not (plan.take and plan.shed)


@settings(max_examples=500, deadline=None)
@given(situations())
def test_a_replica_below_its_share_takes_every_free_execution_it_has_room_for_oldest_first(
    situation: tuple[int, int, set[str], list[str], float],
) -> None:
    total, live, tracked, free, fraction = situation
    plan = plan_share(total, live, tracked, free, fraction)
    if not plan.shed:
        room = max(0, plan.share - len(tracked))
        assert list(plan.take) == free[:room]


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 1000), live=st.integers(1, 10), fraction=st.sampled_from([0.05, 0.1, 0.2]))
def test_replicas_that_apply_the_plan_in_turn_converge_to_fair_shares(
    total: int, live: int, fraction: float
) -> None:
    """Start from the worst case (one replica holds everything), let each replica make a pass
    in turn: after two rounds nobody is above share + slack and nothing is left untracked."""
    ids = IDS * 3
    everything = [f"{i}-{n}" for n, i in enumerate(ids[:total])]
    held: list[set[str]] = [set(everything)] + [set() for _ in range(live - 1)]
    for _ in range(2):
        for r in range(live):
            owned = set().union(*held)
            free = [e for e in everything if e not in owned]
            plan = plan_share(total, live, held[r], free, fraction)
            held[r] = set(plan.keep) | set(plan.take)
    share = fair_share(total, live)
    assert sum(len(h) for h in held) == total
    assert all(len(h) <= share + slack(share, fraction) for h in held)


def test_three_replicas_and_300_executions() -> None:
    assert fair_share(300, 3) == 100 and slack(100, 0.1) == 10
    held = {f"e{n}" for n in range(150)}
    plan = plan_share(300, 3, held, [], 0.1)  # a third replica joined: give back 50
    assert len(plan.keep) == 100 and len(plan.shed) == 50
    plan = plan_share(300, 3, set(list(held)[:105]), [f"x{n}" for n in range(10)], 0.1)
    assert len(plan.keep) == 105 and plan.take == () and plan.shed == ()  # within the slack
    assert fair_share(5, 0) == 5  # never divides by zero
