"""Responsiveness: every setting that keeps the event loop turning, in one place.

asyncio runs every callback that is ready at the start of a turn before it looks at timers or
sockets again, so work that becomes ready together (an answer for hundreds of executions, a
restart finding every execution, a finder page, a garbage collection) delays every timer of the
daemon (health beat, batch windows, lease heartbeats, HTTP) by as long as it runs. Each knob below
cuts one such burst into slices with a turn of the loop between them. They change when work runs,
never what is done: every slice runs, in order, and nothing is skipped or starved.

The figures they were sized by (cost per item, the lag each removed, the runs that chose the
defaults) are in docs/performance.md, section "Loop responsiveness: the knobs and their figures".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from poller.config import Settings


@dataclass(frozen=True)
class Responsiveness:
    """The loop-yield knobs, with their contracts and reasons; ``from_settings`` for the daemon.

    ``turn_budget_seconds`` (``POLLER_TURN_BUDGET_SECONDS``; 0 turns the cap off): checkpointed
    poll work one loop turn may do before the rest waits, in order, for a later turn
    (:class:`poller.runtime.turns.TurnBudget`). A timer that falls due during a turn waits out the
    rest of that turn and all of the next, so the budget is a fraction of the lag target.

    ``wake_per_turn``: waiters of the turn budget woken per turn. A slice admits only what fits
    the budget and the others go back in line, so waking a whole long line every turn would cost
    a wake-up per waiter for the few that fit; it is sized above what one budget admits.

    ``wake_slice``: waiters of one DescribeJobs answer settled per turn
    (:class:`poller.pipeline.batch.JobStatusBatcher`). One answer serves every execution of a
    region, and each waiter applies it and builds its write when woken: all at once would run
    them all in one turn. The slice is a few budgets' worth of those steps.

    ``start_per_turn``: trackers made and started per turn
    (:class:`poller.pipeline.schedule.Scheduler`). A restart finds every execution in POLLING at
    once; making all their trackers in one turn and running their first steps in the next stalls
    the loop for as long. A slice costs about one turn budget.

    ``deserialize_per_turn``: finder items deserialized between two turns
    (:func:`poller.pipeline.find.find_polling_executions`), so a page never stalls the loop for
    its whole conversion.

    ``finder_page_items``: items per StatusIndex Query page. botocore parses a page in one go,
    without a turn of the loop, so the page is kept small enough to parse within a few budgets;
    a pass costs one round trip per page, still far under the finder's target on DynamoDB.

    ``gc_young_seconds`` and ``gc_full_seconds`` (``POLLER_GC_YOUNG_SECONDS``,
    ``POLLER_GC_FULL_SECONDS``): young generations, then the whole heap, collected on the clock
    instead of by allocation counts (:mod:`poller.runtime.garbage`). A young pause grows with
    the period (what a poll makes lives a whole interval, so nearly all of it is walked); a full
    collection walks the whole heap with the loop stopped, so it comes rarely.
    """

    turn_budget_seconds: float = 0.005
    wake_per_turn: int = 64
    wake_slice: int = 8
    start_per_turn: int = 256
    deserialize_per_turn: int = 200
    finder_page_items: int = 500
    gc_young_seconds: float = 0.025
    gc_full_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Responsiveness:
        """The daemon's knobs: the configurable ones from ``settings``, the others as above."""
        return cls(
            turn_budget_seconds=settings.turn_budget_seconds,
            gc_young_seconds=settings.gc_young_seconds,
            gc_full_seconds=settings.gc_full_seconds,
        )
