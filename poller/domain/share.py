"""Replicas share the load: how many executions one replica should track, and which.

Every replica reads the same StatusIndex and the same list of live replicas, so each can work
out its fair share alone: ``ceil(executions / live replicas)``. A replica takes free
executions (no live owner) only up to its share, and gives executions back only when it holds
more than its share plus a small slack, down to its share. Taking up to the share but shedding
only past share + slack is the hysteresis that stops executions bouncing between replicas: a
replica that just shed is at its share and takes nothing back, so what it released goes to the
replicas below their share (a joining one, or the survivors of a stopped one).

Pure: the daemon applies the plan (trackers started or stopped; a stopped tracker releases its
lease once its in-flight write is done, and a claim is a compare-and-swap, so two replicas
never poll one execution).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SharePlan:
    """What one replica tracks after this finder pass."""

    share: int
    keep: tuple[str, ...]  # tracked now and kept
    take: tuple[str, ...]  # free executions to claim
    shed: tuple[str, ...]  # tracked now and given back


def fair_share(total: int, live_replicas: int) -> int:
    """Executions per replica when ``total`` are spread over ``live_replicas`` (at least 1)."""
    return math.ceil(total / max(1, live_replicas))


def slack(share: int, fraction: float) -> int:
    """How far above its share a replica may drift before it gives executions back."""
    return max(1, math.ceil(share * fraction))


def plan_share(
    total: int,
    live_replicas: int,
    tracked: Collection[str],
    free: Sequence[str],
    slack_fraction: float,
) -> SharePlan:
    """``tracked``: executions this replica polls now (still POLLING); ``free``: POLLING ones with
    no live owner, in the order to take them. Sheds the last of ``tracked`` in sorted order."""
    share = fair_share(total, live_replicas)
    mine = sorted(tracked)
    if len(mine) > share + slack(share, slack_fraction):
        return SharePlan(share, tuple(mine[:share]), (), tuple(mine[share:]))
    room = max(0, share - len(mine))
    taken = [f for f in free if f not in tracked][:room]
    return SharePlan(share, tuple(mine), tuple(taken), ())
