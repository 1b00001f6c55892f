"""Cancel as a pure transition: unfinished waves CANCELLED, finished ones kept, terminal refused."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.domain.cancel import CANCEL_REASON, AlreadyFinished, TerminateNotAllowed, cancel_execution
from poller.domain.statuses import (
    TERMINAL_EXECUTION,
    TERMINAL_WAVE,
    ExecutionStatus,
    ExecutionType,
    WaveStatus,
)

from .builders import START, execution, server, wave


@settings(max_examples=200, deadline=None)
@given(
    statuses=st.lists(st.sampled_from(list(WaveStatus)), min_size=1, max_size=6),
    status=st.sampled_from(list(ExecutionStatus)),
    execution_type=st.sampled_from(list(ExecutionType)),
    terminate=st.booleans(),
)
def test_cancel_ends_unfinished_waves_and_keeps_finished_ones(
    statuses: list[WaveStatus], status: ExecutionStatus, execution_type: ExecutionType, terminate: bool
) -> None:
    before = execution(
        [wave([server(i)], name=f"W{i}", status=s) for i, s in enumerate(statuses)], execution_type, status
    )
    if status in TERMINAL_EXECUTION:
        with pytest.raises(AlreadyFinished, match=str(status)):
            cancel_execution(before, START + 9, terminate)
        return
    if terminate and execution_type != ExecutionType.DRILL:
        with pytest.raises(TerminateNotAllowed, match="only for DRILL"):
            cancel_execution(before, START + 9, terminate)
        return
    after = cancel_execution(before, START + 9, terminate)
    assert (after.Status, after.EndTime, after.StatusReason) == (
        ExecutionStatus.CANCELLED,
        START + 9,
        CANCEL_REASON,
    )
    assert after.Version == before.Version  # the write bumps it, not the rule
    for old, new in zip(before.Waves, after.Waves, strict=True):
        if old.Status in TERMINAL_WAVE:
            assert new == old
        else:
            assert (new.Status, new.StatusReason) == (WaveStatus.CANCELLED, CANCEL_REASON)
            assert new.Servers == old.Servers
    assert before.Status == status  # the input is not changed
