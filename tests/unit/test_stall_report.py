"""The stall report groups samples by loop turn and by the poller code that was running."""

from __future__ import annotations

import json
from pathlib import Path

from bench.stall_report import read, summarize


def sample(t: float, turn: int, ms: float, *stack: str) -> str:
    return json.dumps({"t": t, "turn": turn, "ms": ms, "stack": list(stack)}) + "\n"


def test_samples_of_one_turn_count_once_and_time_goes_to_the_innermost_poller_frame(tmp_path: Path) -> None:
    path = tmp_path / "stalls.jsonl"
    path.write_text(
        sample(10.0, 1, 41.0, "poller/a.py:f:1", "poller/b.py:g:2", "json/decoder.py:raw_decode:3")
        + sample(10.005, 1, 46.0, "poller/a.py:f:1", "poller/b.py:g:2", "json/decoder.py:raw_decode:3")
        + sample(20.0, 7, 90.0, "asyncio/events.py:_run:1")
        + '{"t": 30.0, "tu'  # a line cut by the process's end
    )
    summary = summarize(read(path))
    assert summary["stalled_turns"] == 2
    assert summary["turn_ms_p50_p99_max"][2] == 90.0
    assert summary["by_poller_frame"][0] == ("poller/b.py:g:2", 10.0)
    assert ("(outside poller/) asyncio/events.py:_run:1", 5.0) in summary["by_poller_frame"]
    assert summary["by_leaf"][0] == ("json/decoder.py:raw_decode:3", 10.0)


def test_since_and_until_keep_one_stretch_of_the_run(tmp_path: Path) -> None:
    path = tmp_path / "stalls.jsonl"
    path.write_text(sample(10.0, 1, 41.0, "poller/a.py:f:1") + sample(20.0, 2, 41.0, "poller/a.py:f:1"))
    assert summarize(read(path, since=15.0))["stalled_turns"] == 1
    assert summarize(read(path, until=15.0))["stalled_turns"] == 1
