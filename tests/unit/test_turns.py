"""The turn budget slices a burst of poll steps across loop turns, in order, starving none."""

from __future__ import annotations

import asyncio

import pytest

from poller.runtime.turns import TurnBudget
from tests.prom import sample


class WorkClock:
    """Time that passes only when a step works (the steps are the loop's CPU)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class TurnWatch:
    """Runs once per loop turn and records the work done since its last run (the turn's length)."""

    def __init__(self, clock: WorkClock) -> None:
        self.clock = clock
        self.turns: list[float] = []
        self.stop = False

    async def run(self) -> None:
        last = self.clock.now
        while not self.stop:
            await asyncio.sleep(0)
            self.turns.append(self.clock.now - last)
            last = self.clock.now


async def burst(budget: TurnBudget, clock: WorkClock, steps: int, cost: float, done: list[int]) -> None:
    async def step(n: int) -> None:
        await budget.checkpoint()
        clock.now += cost
        done.append(n)

    await asyncio.gather(*(step(n) for n in range(steps)))


async def watched_burst(
    seconds: float, steps: int = 100, cost: float = 0.005
) -> tuple[list[float], list[int]]:
    clock = WorkClock()
    watch = TurnWatch(clock)
    watching = asyncio.create_task(watch.run())
    done: list[int] = []
    await burst(TurnBudget(seconds, clock), clock, steps, cost, done)
    watch.stop = True
    await watching
    return watch.turns, done


async def test_a_burst_is_sliced_so_no_turn_works_more_than_the_budget_and_one_step() -> None:
    turns, done = await watched_burst(seconds=0.020)
    assert sorted(done) == list(range(100))
    assert max(turns) <= 0.020 + 0.005 + 1e-9
    assert sum(turns) == pytest.approx(0.5)


async def test_without_a_budget_the_whole_burst_runs_in_one_turn() -> None:
    turns, _ = await watched_burst(seconds=0.0)
    assert max(turns) == pytest.approx(0.5)


async def test_steps_of_a_burst_finish_in_the_order_they_arrived() -> None:
    _, done = await watched_burst(seconds=0.020)
    assert done == list(range(100))


async def test_steps_within_budget_are_not_deferred() -> None:
    clock = WorkClock()
    budget = TurnBudget(0.020, clock)
    done: list[int] = []
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    async def three_small_steps() -> None:
        await burst(budget, clock, steps=3, cost=0.001, done=done)
        finished.set_result(None)

    task = asyncio.create_task(three_small_steps())
    for _ in range(3):  # gather schedules the steps, which run in the next turn
        await asyncio.sleep(0)
    assert done == [0, 1, 2]
    await task


async def test_newcomers_wait_behind_the_line_so_early_steps_are_never_starved() -> None:
    clock = WorkClock()
    budget = TurnBudget(0.010, clock)
    order: list[str] = []

    async def step(name: str) -> None:
        await budget.checkpoint()
        clock.now += 0.004
        order.append(name)

    first = [asyncio.create_task(step(f"early-{n}")) for n in range(20)]
    late: list[asyncio.Task[None]] = []
    for turn in range(10):  # newcomers keep arriving, a few per turn, while the early ones wait
        await asyncio.sleep(0)
        late += [asyncio.create_task(step(f"late-{turn}-{n}")) for n in range(3)]
    await asyncio.gather(*first, *late)
    assert order[:20] == [f"early-{n}" for n in range(20)]


async def test_a_step_cancelled_while_waiting_does_not_hold_up_the_others() -> None:
    clock = WorkClock()
    budget = TurnBudget(0.010, clock)
    done: list[int] = []

    async def step(n: int) -> None:
        await budget.checkpoint()
        clock.now += 0.004
        done.append(n)

    tasks = [asyncio.create_task(step(n)) for n in range(12)]
    await asyncio.sleep(0)  # the first three ran; the rest wait in line
    for task in tasks[5:8]:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
    assert done == [n for n in range(12) if n not in (5, 6, 7)]


async def test_a_long_line_is_woken_a_turns_worth_at_a_time_not_all_of_it_every_turn() -> None:
    clock = WorkClock()
    budget = TurnBudget(0.010, clock)
    done: list[int] = []
    before = sample("poller_turn_deferrals_total")
    await burst(budget, clock, steps=1000, cost=0.001, done=done)
    assert done == list(range(1000))
    # ~100 turns of 10 steps: each waiter waits once, plus per turn the wake-ups that did not
    # fit (at most Responsiveness.wake_per_turn); waking all of the line every turn would be ~50,000
    assert sample("poller_turn_deferrals_total") - before < 10_000
