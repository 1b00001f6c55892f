"""The timeout counts from the latest DRS launch, so SEQUENTIAL waves each get the full time."""

from __future__ import annotations

from poller.domain.model import Execution
from poller.domain.statuses import ServerStatus, WaveStatus
from poller.domain.timeout import is_timed_out
from tests.unit.builders import execution, server, wave

START = 1_000_000.0


def _sequential(wave2_started: float | None) -> Execution:
    first = wave([server(1, ServerStatus.LAUNCHED)], name="W1", status=WaveStatus.COMPLETED)
    second = wave([server(2, ServerStatus.PENDING)], name="W2")
    second = second.model_copy(update={"JobStartedTime": wave2_started})
    return execution([first, second], start=START)


def test_sequential_wave_started_late_is_not_timed_out_by_the_execution_age() -> None:
    late = _sequential(wave2_started=START + 1500)
    assert not is_timed_out(late, now=START + 2400, timeout_seconds=1800)
    assert is_timed_out(late, now=START + 3301, timeout_seconds=1800)


def test_without_launch_times_the_execution_start_counts() -> None:
    plain = _sequential(wave2_started=None)
    assert is_timed_out(plain, now=START + 1801, timeout_seconds=1800)
    assert not is_timed_out(plain, now=START + 1799, timeout_seconds=1800)
