"""Terminal rendering of the embedded demo: a redrawn table on a TTY, change lines otherwise.

Kept apart from the orchestration in :mod:`poller_devtools.demo` so it is a pure function of the
execution items (as ``GET /executions/{id}`` returns them): easy to test, no I/O but ``write``.
Simulated time is wall time multiplied by the drssim time-scale, because drssim plays DRS's
timeline that much faster while the poller measures real seconds.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

TERMINAL = frozenset({"COMPLETED", "PARTIAL", "FAILED", "TIMEOUT", "CANCELLED"})
# Order in which server statuses are listed: the way a launch moves forward.
SERVER_ORDER = ("LAUNCHING", "PENDING", "STARTED", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED")

Item = Mapping[str, Any]


def is_terminal(execution: Item | None) -> bool:
    return execution is not None and str(execution.get("Status")) in TERMINAL


def fmt_duration(seconds: float) -> str:
    """``42.1s``, ``13m05s``, ``1h02m``: short enough for a table column."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def server_counts(wave: Item) -> str:
    """``3 PENDING, 1 IN_PROGRESS``: servers of a wave grouped by status, in launch order."""
    counts = Counter(str(s.get("Status", "?")) for s in wave.get("Servers", []))
    known = [f"{counts.pop(status)} {status}" for status in SERVER_ORDER if status in counts]
    return ", ".join(known + [f"{n} {status}" for status, n in sorted(counts.items())])


def _post_launch(wave: Item) -> str:
    counts = Counter(
        str(s["PostLaunchActionsStatus"]) for s in wave.get("Servers", []) if s.get("PostLaunchActionsStatus")
    )
    return "" if not counts else " | post-launch " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def wave_lines(execution: Item) -> list[tuple[str, str, str, str]]:
    """(wave, region, status, servers) per wave."""
    return [
        (
            str(w.get("WaveName", "?")),
            str(w.get("Region", "?")),
            str(w.get("Status", "?")),
            server_counts(w) + _post_launch(w),
        )
        for w in execution.get("Waves", [])
    ]


class ProgressView:
    """Shows live progress; ``tty`` redraws a table in place, otherwise prints one line per change."""

    def __init__(
        self,
        labels: Mapping[str, str],
        time_scale: float,
        clock: Callable[[], float],
        out: TextIO = sys.stdout,
        tty: bool | None = None,
    ) -> None:
        self.labels = dict(labels)  # execution id -> "DRILL" / "RECOVERY"
        self.time_scale = time_scale
        self.clock = clock
        self.started = clock()
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._drawn_lines = 0
        self._last: dict[str, tuple[str, ...]] = {}

    def elapsed(self) -> str:
        wall = self.clock() - self.started
        return f"{fmt_duration(wall)} (sim {fmt_duration(wall * self.time_scale)})"

    def detach(self) -> None:
        """Something else was printed below the table: the next redraw starts under it."""
        self._drawn_lines = 0

    def update(self, executions: Mapping[str, Item | None]) -> None:
        if self.tty:
            self._redraw(executions)
        else:
            self._print_changes(executions)

    def _print_changes(self, executions: Mapping[str, Item | None]) -> None:
        for execution_id, item in executions.items():
            state: tuple[str, ...]
            if item is None:
                state = ("(not visible yet)",)
            else:
                state = (str(item.get("Status")), *(" ".join(w) for w in wave_lines(item)))
            if self._last.get(execution_id) == state:
                continue
            self._last[execution_id] = state
            waves = " | ".join(
                f"{name} {region} {status}: {servers}"
                for name, region, status, servers in wave_lines(item or {})
            )
            status = "?" if item is None else str(item.get("Status"))
            label = self.labels.get(execution_id, "")
            self.out.write(f"[{self.elapsed()}] {execution_id} {label} {status} {waves}\n".rstrip() + "\n")
        self.out.flush()

    def _redraw(self, executions: Mapping[str, Item | None]) -> None:
        width = max([9, *(len(e) for e in executions)])
        lines = [f"Elapsed {self.elapsed()}   time-scale {self.time_scale:g}x   (Ctrl-C stops the demo)", ""]
        lines.append(
            f"{'EXECUTION':<{width}} {'TYPE':<8} {'STATUS':<9} {'WAVE':<14} {'REGION':<9} {'WAVE':<9} SERVERS"
        )
        for execution_id, item in executions.items():
            label = self.labels.get(execution_id, "")
            if item is None:
                lines.append(f"{execution_id:<{width}} {label:<8} ...")
                continue
            status = str(item.get("Status"))
            for i, (name, region, wave_status, servers) in enumerate(wave_lines(item)):
                head = f"{execution_id:<{width}} {label:<8} {status:<9}" if i == 0 else " " * (width + 19)
                lines.append(f"{head} {name:<14} {region:<9} {wave_status:<9} {servers}")
        clear = f"\x1b[{self._drawn_lines}F\x1b[J" if self._drawn_lines else ""
        self.out.write(clear + "\n".join(lines) + "\n")
        self.out.flush()
        self._drawn_lines = len(lines)


def render_summary(
    executions: Mapping[str, Item | None], labels: Mapping[str, str], time_scale: float
) -> list[str]:
    """Final summary: outcome, durations (wall and simulated), and per server its instance id."""
    lines = ["", f"Summary (time-scale {time_scale:g}x: simulated = wall x {time_scale:g})"]
    for execution_id, item in executions.items():
        label = labels.get(execution_id, "")
        if item is None:
            lines.append(f"  {execution_id} {label}: never became visible")
            continue
        lines.append(f"  {execution_id} {label} {item.get('Status')}  {_durations(item, time_scale)}")
        for wave in item.get("Waves", []):
            servers: Sequence[Item] = wave.get("Servers", [])
            launched = sum(1 for s in servers if s.get("Status") == "LAUNCHED")
            lines.append(
                f"    {wave.get('WaveName')} ({wave.get('Region')}) {wave.get('Status')}: "
                f"{launched}/{len(servers)} launched"
            )
            for server in servers:
                extra = server.get("InstanceId") or server.get("FailureReason") or ""
                post = server.get("PostLaunchActionsStatus")
                post_text = f"  post-launch {post}" if post else ""
                lines.append(
                    f"      {server.get('SourceServerId')}  {server.get('Status'):<11} {extra}{post_text}"
                )
    done = sum(1 for item in executions.values() if is_terminal(item))
    lines.append(f"{done}/{len(executions)} executions reached a terminal state.")
    return lines


def _durations(item: Item, time_scale: float) -> str:
    start, end = item.get("StartTime"), item.get("EndTime")
    if start is None or end is None:
        return "(still running)"
    wall = float(end) - float(start)
    return f"took {fmt_duration(wall)} wall, {fmt_duration(wall * time_scale)} simulated"
