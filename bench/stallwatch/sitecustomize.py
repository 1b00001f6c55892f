"""Bench-only stall watch: which code holds the daemon's event loop for more than a threshold.

``bench_daemon.py --profile stalls`` puts this directory first on the daemon's PYTHONPATH, so
Python imports this file at start-up (as ``sitecustomize``) with ``STALLWATCH_OUT`` set. A
profiler says where CPU goes on average; the loop-lag target is about the *long* turns, which
an average hides. So every loop turn is stamped when the selector returns, and a watcher thread
looks every ``STALLWATCH_EVERY_MS`` (5): when the current turn has run longer than
``STALLWATCH_MS`` (40), it samples the loop thread's stack into ``STALLWATCH_OUT`` (JSON
lines; each sample stands for ~5 ms of stall). ``bench/stall_report.py`` summarises them.
Nothing of this is imported by the daemon outside the bench.
"""

from __future__ import annotations

import json
import os
import selectors
import sys
import threading
import time
from types import FrameType
from typing import Any

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) + "/"
# [turns completed, perf_counter when the current turn's callbacks began]
_turn: list[Any] = [0, time.perf_counter()]


def _stamp_after_select(select: Any) -> Any:
    def stamped(self: Any, timeout: float | None = None) -> Any:
        ready = select(self, timeout)
        _turn[0] += 1
        _turn[1] = time.perf_counter()
        return ready

    return stamped


def _frames(frame: FrameType | None) -> list[str]:
    names: list[str] = []
    while frame is not None:
        code = frame.f_code
        names.append(f"{_module_of(code.co_filename)}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return names[::-1]  # outermost first, as folded stacks are written


def _module_of(path: str) -> str:
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.removeprefix(_REPO)


class StallWatch:
    """Appends one JSON line per sample: wall time, loop turn, how long it had run, the stack."""

    def __init__(self, out: str, threshold: float, every: float) -> None:
        self.out = open(out, "a", buffering=1)  # kept open for the process's life
        self.threshold = threshold
        self.every = every
        self.loop_thread = threading.get_ident()

    def run(self) -> None:
        while True:
            time.sleep(self.every)
            self.sample()

    def sample(self) -> None:
        turn, began = _turn
        elapsed = time.perf_counter() - began
        if elapsed < self.threshold or turn == 0:  # start-up imports run before the loop does
            return
        frame = sys._current_frames().get(self.loop_thread)
        if frame is None or (frame.f_code.co_name == "select" and "selectors" in frame.f_code.co_filename):
            return  # waiting for I/O is not a stall
        record = {"t": time.time(), "turn": turn, "ms": round(elapsed * 1000, 1), "stack": _frames(frame)}
        self.out.write(json.dumps(record) + "\n")


def _start(out: str) -> None:
    for name in ("EpollSelector", "PollSelector", "SelectSelector"):
        cls = getattr(selectors, name, None)
        if cls is not None:
            cls.select = _stamp_after_select(cls.select)
    watch = StallWatch(
        out,
        threshold=float(os.environ.get("STALLWATCH_MS", "40")) / 1000,
        every=float(os.environ.get("STALLWATCH_EVERY_MS", "5")) / 1000,
    )
    threading.Thread(target=watch.run, name="stallwatch", daemon=True).start()


if os.environ.get("STALLWATCH_OUT"):
    _start(os.environ["STALLWATCH_OUT"])
