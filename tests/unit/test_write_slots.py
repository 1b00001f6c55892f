"""A writer woken by a freed write slot takes its turn at the budget; one that got a slot at once
does not queue twice."""

from __future__ import annotations

import asyncio
from typing import Any

from poller.domain.statuses import ServerStatus
from poller.runtime.turns import TurnBudget
from poller.store.executions import ExecutionStore
from tests.unit.builders import START, execution, server, wave


class CountingBudget(TurnBudget):
    def __init__(self) -> None:
        super().__init__(0.010)
        self.checkpoints = 0

    async def checkpoint(self) -> None:
        self.checkpoints += 1
        await super().checkpoint()


class HeldDynamoDB:
    """UpdateItem answers only when ``answer`` is set: a write in flight holds its slot."""

    def __init__(self) -> None:
        self.answer = asyncio.Event()
        self.sending = asyncio.Event()
        self.sent: list[str] = []

    async def update_item(self, **request: Any) -> dict[str, Any]:
        self.sent.append(request["Key"]["ExecutionId"]["S"])
        self.sending.set()
        await self.answer.wait()
        return {}


def one_execution(name: str) -> Any:
    return execution([wave([server(1, ServerStatus.PENDING)])], start=START).model_copy(
        update={"ExecutionId": name}
    )


async def test_a_writer_that_got_a_slot_at_once_does_not_pass_the_budget_again() -> None:
    budget, db = CountingBudget(), HeldDynamoDB()
    db.answer.set()
    store = ExecutionStore(db, "executions", max_concurrent_writes=1, turns=budget)
    await asyncio.wait_for(store.save(one_execution("first"), 0), 5)
    assert db.sent == ["first"]
    assert budget.checkpoints == 0  # its caller was admitted for this step already


async def test_a_writer_woken_by_a_freed_slot_takes_its_turn_at_the_budget() -> None:
    budget, db = CountingBudget(), HeldDynamoDB()
    store = ExecutionStore(db, "executions", max_concurrent_writes=1, turns=budget)
    first = asyncio.create_task(store.save(one_execution("first"), 0))
    second = asyncio.create_task(store.save(one_execution("second"), 0))
    await asyncio.wait_for(db.sending.wait(), 5)
    await asyncio.sleep(0.01)
    assert db.sent == ["first"]  # the slot is held: the second writer waits, sending nothing
    assert budget.checkpoints == 0
    db.answer.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert db.sent == ["first", "second"]
    assert budget.checkpoints == 1  # only the writer the freed slot woke
