"""The bench's detection target uses the interval the daemon was polling at when DRS changed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import daemon_views, hist_quantile_estimate, hist_share_at_most, interval_at_change

# one execution, two servers (one job per region); times are wall seconds
VIEWS = {
    "s-a": ("exec-1", [(0.0, "PENDING"), (100.0, "STARTED"), (130.0, "IN_PROGRESS"), (400.0, "LAUNCHED")]),
    "s-b": ("exec-1", [(0.0, "PENDING"), (160.0, "IN_PROGRESS")]),
}


def test_a_change_made_before_the_daemon_saw_started_is_judged_at_the_pending_interval() -> None:
    assert interval_at_change(VIEWS, {("s-b", "IN_PROGRESS"): 90.0}) == {("s-b", "IN_PROGRESS"): 45.0}


def test_the_most_urgent_server_sets_the_execution_interval() -> None:
    # at 120 s the daemon had seen s-a STARTED: the whole execution polls at the STARTED pace
    assert interval_at_change(VIEWS, {("s-b", "IN_PROGRESS"): 120.0}) == {("s-b", "IN_PROGRESS"): 15.0}


def test_launched_servers_no_longer_set_the_pace() -> None:
    # at 500 s s-a is LAUNCHED (a drill's server is done) and s-b IN_PROGRESS: 30 s
    assert interval_at_change(VIEWS, {("s-b", "LAUNCHED"): 500.0}) == {("s-b", "LAUNCHED"): 30.0}


def test_servers_the_daemon_never_wrote_are_left_out() -> None:
    assert interval_at_change(VIEWS, {("s-unknown", "LAUNCHED"): 10.0}) == {}


def test_the_bench_reads_server_status_changes_from_the_daemons_transitions_lines(tmp_path: Path) -> None:
    changes = [
        {"scope": "server", "subject": "s-a", "attribute": "Status", "old": "PENDING", "new": "IN_PROGRESS"},
        {
            "scope": "server",
            "subject": "s-a",
            "attribute": "PostLaunchActionsStatus",
            "old": None,
            "new": "X",
        },
        {"scope": "wave", "subject": "wave-1", "attribute": "Status", "old": "LAUNCHING", "new": "LAUNCHED"},
    ]
    lines = [
        {
            "event": "transitions",
            "execution_id": "exec-1",
            "timestamp": "2026-01-01T00:00:10Z",
            "changes": changes,
        },
        {"event": "poll_failed", "execution_id": "exec-1", "timestamp": "2026-01-01T00:00:11Z"},
    ]
    log = tmp_path / "daemon.log"
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\nnot json\n")
    ten = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC).timestamp()
    assert daemon_views(log) == {"s-a": ("exec-1", [(ten, "IN_PROGRESS")])}


def lag_scrape(counts: dict[str, float]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A /metrics scrape holding only the loop-lag histogram's buckets (le → cumulative count)."""
    return {("poller_event_loop_lag_seconds_bucket", (("le", le),)): v for le, v in counts.items()}


def test_the_bench_counts_the_share_of_lag_probes_at_most_a_bucket_bound_between_scrapes() -> None:
    before = lag_scrape({"0.025": 10, "0.05": 10, "0.1": 10, "+Inf": 10})
    after = lag_scrape({"0.025": 60, "0.05": 100, "0.1": 105, "+Inf": 110})
    # 100 probes between the scrapes, 90 of them at most 50 ms late
    assert hist_share_at_most(before, after, "poller_event_loop_lag_seconds", 0.05) == 0.9
    assert math.isnan(hist_share_at_most(before, before, "poller_event_loop_lag_seconds", 0.05))


def test_the_bench_estimates_a_quantile_inside_its_bucket_as_prometheus_does() -> None:
    none = lag_scrape({"0.025": 0, "0.05": 0, "0.1": 0, "+Inf": 0})
    after = lag_scrape({"0.025": 90, "0.05": 100, "0.1": 100, "+Inf": 100})
    # the 99th of 100 probes is the 9th of the 10 in (25, 50] ms: 25 + 25 * 9/10
    assert hist_quantile_estimate(none, after, "poller_event_loop_lag_seconds", 0.99) == 0.0475
    assert hist_quantile_estimate(none, after, "poller_event_loop_lag_seconds", 0.5) == 0.025 * 50 / 90
    tail = lag_scrape({"0.025": 90, "0.05": 90, "0.1": 90, "+Inf": 100})  # beyond the last bound
    assert hist_quantile_estimate(none, tail, "poller_event_loop_lag_seconds", 0.99) == 0.1
    assert math.isnan(hist_quantile_estimate(none, none, "poller_event_loop_lag_seconds", 0.99))
