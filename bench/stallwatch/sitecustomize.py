"""Bench-only stall watch: which code holds the daemon's event loop for more than a threshold.

``bench_daemon.py --profile stalls`` puts this directory first on the daemon's PYTHONPATH, so
Python imports this file at start-up (as ``sitecustomize``) with ``STALLWATCH_OUT`` set. A
profiler says where CPU goes on average; the loop-lag target is about the *long* turns, which
an average hides. So every loop turn is stamped when the selector returns, and a watcher thread
looks every ``STALLWATCH_EVERY_MS`` (5): when the current turn has run longer than
``STALLWATCH_MS`` (40), it samples the loop thread's stack. Each sample stands for ~5 ms of
stall; the folded stacks and a per-function summary are rewritten every 10 s and at exit.
Nothing of this is imported by the daemon outside the bench.
"""

from __future__ import annotations

import atexit
import collections
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
    def __init__(self, out: str, threshold: float, every: float) -> None:
        self.out = out
        self.threshold = threshold
        self.every = every
        self.loop_thread = threading.get_ident()
        self.stacks: collections.Counter[str] = collections.Counter()
        self.stalls: dict[int, float] = {}  # turn number → longest elapsed seen
        self.lock = threading.Lock()

    def run(self) -> None:
        last_write = time.monotonic()
        while True:
            time.sleep(self.every)
            self.sample()
            if time.monotonic() - last_write > 10:
                self.write()
                last_write = time.monotonic()

    def sample(self) -> None:
        turn, began = _turn
        elapsed = time.perf_counter() - began
        if elapsed < self.threshold or turn == 0:  # start-up imports run before the loop does
            return
        frame = sys._current_frames().get(self.loop_thread)
        if frame is None or (frame.f_code.co_name == "select" and "selectors" in frame.f_code.co_filename):
            return  # waiting for I/O is not a stall
        with self.lock:
            self.stacks[";".join(_frames(frame))] += 1
            self.stalls[turn] = max(self.stalls.get(turn, 0.0), elapsed)

    def write(self) -> None:
        with self.lock:
            stacks = dict(self.stacks)
            stalls = sorted(self.stalls.values())
        summary = {
            "threshold_ms": self.threshold * 1000,
            "sample_every_ms": self.every * 1000,
            "stalled_turns": len(stalls),
            "stall_ms_p50_p99_max": [
                round(stalls[int(q * (len(stalls) - 1))] * 1000, 1) for q in (0.5, 0.99, 1.0)
            ]
            if stalls
            else [],
            "by_poller_frame": _top(stacks, _innermost_poller),
            "by_leaf": _top(stacks, lambda s: s.rsplit(";", 1)[-1]),
        }
        with open(self.out + ".tmp", "w") as f:
            json.dump(summary, f, indent=1)
        os.replace(self.out + ".tmp", self.out)
        with open(self.out.removesuffix(".json") + ".folded", "w") as f:
            f.writelines(f"{stack} {count}\n" for stack, count in stacks.items())


def _innermost_poller(stack: str) -> str:
    ours = [f for f in stack.split(";") if f.startswith("poller/")]
    return ours[-1] if ours else "(outside poller/): " + stack.rsplit(";", 1)[-1]


def _top(stacks: dict[str, int], key: Any, n: int = 15) -> list[tuple[str, int]]:
    totals: collections.Counter[str] = collections.Counter()
    for stack, count in stacks.items():
        totals[key(stack)] += count
    return totals.most_common(n)


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
    atexit.register(watch.write)


if os.environ.get("STALLWATCH_OUT"):
    _start(os.environ["STALLWATCH_OUT"])
