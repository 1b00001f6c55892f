"""Summarise a turn watch (``bench_daemon.py --profile turns``): what filled the long loop turns.

Reads the JSON lines ``bench/turnwatch/sitecustomize.py`` wrote (one per loop turn over 20 ms)
and prints, for the turns between ``--since`` and ``--until`` (wall times), how many turns
exceeded 25, 35 and 50 ms, how many of those held a garbage collection and would still exceed
the bound without it, and the time of callbacks over 2 ms by what they were.

    .venv/bin/python bench/turn_report.py bench/out/daemon-10000/turns.jsonl
"""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness as h
from bench.stall_report import report_main

BOUNDS_MS = (25.0, 35.0, 50.0)


def summarize(turns: list[dict[str, Any]], top: int = 12) -> dict[str, Any]:
    rows = []
    for bound in BOUNDS_MS:
        long = [t for t in turns if t["ms"] >= bound]
        gc_ms = [sum(c[1] for c in t["gc"]) for t in long]
        rows.append(
            {
                "bound_ms": bound,
                "turns": len(long),
                "with_gc": sum(1 for ms in gc_ms if ms > 0),
                "gc_ms": sum(gc_ms),
                "over_without_gc": sum(1 for t, ms in zip(long, gc_ms, strict=True) if t["ms"] - ms >= bound),
            }
        )
    by_callback: collections.Counter[str] = collections.Counter()
    for t in turns:
        if t["ms"] >= BOUNDS_MS[0]:
            for ms, name in t["callbacks"]:
                by_callback[name] += ms
    return {"bounds": rows, "by_callback": by_callback.most_common(top)}


def print_summary(summary: dict[str, Any], title: str) -> None:
    print(f"\n{title}: loop turns by length, and the garbage collections inside them")
    print(
        h.table(
            ("turns ≥ ms", "turns", "with a collection", "collection ms", "still over without it"),
            [
                (
                    h.fmt(r["bound_ms"], 0),
                    r["turns"],
                    r["with_gc"],
                    h.fmt(r["gc_ms"], 0),
                    r["over_without_gc"],
                )
                for r in summary["bounds"]
            ],
        )
    )
    rows = [(name[:110], h.fmt(ms, 0)) for name, ms in summary["by_callback"]]
    print(h.table(("callback over 2 ms in turns ≥ 25 ms", "ms"), rows))


def main() -> int:
    return report_main(__doc__, "turns", summarize, print_summary)


if __name__ == "__main__":
    raise SystemExit(main())
