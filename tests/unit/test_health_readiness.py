"""Readiness as the load balancer sees it: ready after a recent good finder pass, not before,
not once the pass is older than the max age, and not while stopping (SIGTERM: take no new
requests while the in-flight work finishes). Liveness is independent of all three."""

from __future__ import annotations

from poller.runtime.health import Health


def test_ready_only_after_a_recent_good_finder_pass_and_never_while_stopping() -> None:
    health = Health(ready_max_age_seconds=60.0, loop_beat=1000.0)
    assert not health.ready(1000.0)  # no pass yet
    health.finder_ok(1000.0)
    assert health.ready(1059.0)
    assert not health.ready(1060.0)  # DynamoDB unreadable for the max age
    health.finder_ok(1060.0)
    health.loop_beat = 1060.0
    health.stopping = True
    assert not health.ready(1061.0)
    assert health.alive(1061.0)  # stopping or not ready is no reason to restart the task
