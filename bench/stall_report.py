"""Summarise a stall watch (``bench_daemon.py --profile stalls``): what held the event loop.

Reads the JSON lines ``bench/stallwatch/sitecustomize.py`` wrote (one per 5 ms sample taken
while a loop turn had run over 40 ms) and prints, for the samples after ``--since`` (a wall
time, e.g. when the bench released drssim's clock), how many turns stalled, how long, and the
stall time by innermost ``poller/`` frame and by leaf frame.

    .venv/bin/python bench/stall_report.py bench/out/daemon-10000/stalls.jsonl
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness as h

SAMPLE_MS = 5.0  # STALLWATCH_EVERY_MS


def read(path: Path, since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    samples = []
    with path.open() as fh:
        for line in fh:
            try:
                sample = json.loads(line)
            except ValueError:  # the last line of a killed process may be cut
                continue
            if (since is None or sample["t"] >= since) and (until is None or sample["t"] <= until):
                samples.append(sample)
    return samples


def innermost_poller_frame(stack: list[str]) -> str:
    ours = [frame for frame in stack if frame.startswith("poller/")]
    return ours[-1] if ours else "(outside poller/) " + (stack[-1] if stack else "?")


def summarize(samples: list[dict[str, Any]], top: int = 12) -> dict[str, Any]:
    longest: dict[int, float] = {}
    for s in samples:
        longest[s["turn"]] = max(longest.get(s["turn"], 0.0), s["ms"])
    turns = sorted(longest.values())
    by_poller: collections.Counter[str] = collections.Counter()
    by_leaf: collections.Counter[str] = collections.Counter()
    for s in samples:
        by_poller[innermost_poller_frame(s["stack"])] += 1
        by_leaf[s["stack"][-1] if s["stack"] else "?"] += 1
    return {
        "stalled_turns": len(turns),
        "turn_ms_p50_p99_max": [h.percentile(turns, q) for q in (50, 99, 100)] if turns else [],
        "stalled_ms_sampled": len(samples) * SAMPLE_MS,
        "by_poller_frame": [(f, n * SAMPLE_MS) for f, n in by_poller.most_common(top)],
        "by_leaf": [(f, n * SAMPLE_MS) for f, n in by_leaf.most_common(top)],
    }


def print_summary(summary: dict[str, Any], title: str) -> None:
    p50, p99, worst = summary["turn_ms_p50_p99_max"] or (0.0, 0.0, 0.0)
    print(
        f"\n{title}: {summary['stalled_turns']} loop turns over 40 ms "
        f"(p50 {p50:.0f}, p99 {p99:.0f}, max {worst:.0f} ms), ~{summary['stalled_ms_sampled']:,.0f} ms sampled"
    )
    for key, name in (("by_poller_frame", "innermost poller/ frame"), ("by_leaf", "leaf frame")):
        print(h.table((name, "stalled ms"), [(f, h.fmt(ms, 0)) for f, ms in summary[key]]))


def report_main(
    doc: str,
    profile: str,
    summarize: Callable[[list[dict[str, Any]]], dict[str, Any]],
    print_summary: Callable[[dict[str, Any], str], None],
) -> int:
    """The command line of a report over a watch's JSON lines (this one, ``turn_report.py``)."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("path", type=Path, help=f"{profile}.jsonl of a run directory")
    p.add_argument("--since", type=float, help="only records at or after this wall time (epoch s)")
    p.add_argument("--until", type=float, help="only records at or before this wall time (epoch s)")
    args = p.parse_args()
    if not args.path.exists():
        print(f"{args.path} does not exist: run bench_daemon.py with --profile {profile}", file=sys.stderr)
        return 2
    print_summary(summarize(read(args.path, args.since, args.until)), str(args.path))
    return 0


def main() -> int:
    return report_main(__doc__, "stalls", summarize, print_summary)


if __name__ == "__main__":
    raise SystemExit(main())
