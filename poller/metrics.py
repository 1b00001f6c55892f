"""Prometheus metrics: the one piece of process-wide state, as prometheus-client intends.

Names are the contract with the Grafana dashboard and the CloudWatch alarms; a test scrapes a
running daemon and checks every dashboard query against them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

EXECUTIONS_TRACKED = Gauge("poller_executions_tracked", "Executions with a live polling coroutine")
POLLS = Counter("poller_polls_total", "Polls applied to an execution, by the execution's phase", ["phase"])
TRANSITIONS = Counter(
    "poller_transitions_total", "Status transitions written to DynamoDB", ["level", "status"]
)
DRS_CALLS = Counter("poller_drs_calls_total", "DRS API calls", ["region", "operation", "outcome"])
DRS_LATENCY = Histogram(
    "poller_drs_call_seconds", "DRS API call latency", ["region", "operation"], buckets=_LATENCY_BUCKETS
)
DRS_JOBS_PER_CALL = Histogram(
    "poller_drs_jobs_per_call",
    "Job IDs carried by one DescribeJobs call",
    buckets=(1, 2, 5, 10, 50, 100, 250, 500, 1000),
)
DYNAMODB_CALLS = Counter("poller_dynamodb_calls_total", "DynamoDB API calls", ["operation", "outcome"])
DYNAMODB_LATENCY = Histogram(
    "poller_dynamodb_call_seconds", "DynamoDB API call latency", ["operation"], buckets=_LATENCY_BUCKETS
)
WRITE_CONFLICTS = Counter("poller_write_conflicts_total", "Conditional writes that lost to a newer version")
MALFORMED_ITEMS = Counter("poller_malformed_items_total", "Execution items left untouched because unreadable")
MISSING_JOBS = Counter("poller_missing_jobs_total", "Job IDs DRS did not return (servers left untouched)")
POLL_FAILURES = Counter("poller_poll_failures_total", "Polls that failed and will be retried", ["reason"])
TIMEOUTS = Counter("poller_timeouts_total", "Executions that reached the timeout", ["outcome"])
FINDER_DURATION = Histogram(
    "poller_finder_duration_seconds", "Duration of one pass over the StatusIndex", buckets=_LATENCY_BUCKETS
)
FINDER_RUNS = Counter("poller_finder_runs_total", "Finder passes", ["outcome"])
TURN_DEFERRALS = Counter(
    "poller_turn_deferrals_total",
    "Poll steps moved to a later event-loop turn because the turn had spent its budget (busy loop)",
)
LOOP_LAG = Histogram(
    "poller_event_loop_lag_seconds",
    "How late the event loop wakes a 0.25 s timer",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
EXECUTION_DURATION = Histogram(
    "poller_execution_duration_seconds",
    "StartTime to EndTime of finished executions",
    ["type", "outcome"],
    buckets=(60, 300, 600, 900, 1200, 1500, 1800, 2400, 3600, 7200),
)
POLL_GATE_WAIT = Histogram(
    "poller_poll_gate_wait_seconds",
    "Time a due poll waited for a slot (POLLER_MAX_POLLS_IN_FLIGHT): the store is behind",
    buckets=(0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
)
DETECTION_LAG = Histogram(
    "poller_poll_staleness_seconds",
    "Time since the previous poll when a transition was written",
    buckets=(0.5, 1, 5, 10, 15, 30, 45, 60, 120),
)
GC_PAUSE = Histogram(
    "poller_gc_pause_seconds",
    "Garbage collections (the loop stops meanwhile), by generation: 1 every 25 ms, 2 every 10 min (POLLER_GC_*)",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
LEASES_HELD = Gauge("poller_leases_held", "Execution leases this replica holds")
LEASES_CLAIMED = Counter("poller_leases_claimed_total", "Execution leases claimed")
LEASES_LOST = Counter("poller_leases_lost_total", "Leases found taken by another replica at write time")
LEASES_TAKEN_OVER = Counter("poller_leases_taken_over_total", "Expired leases of another replica taken over")

# ---- launch-result events (POLLER_LAUNCH_EVENTS_QUEUE_URL): a hint that wakes a poll early ----
LAUNCH_EVENTS = Counter(
    "poller_launch_events_total",
    "DRS launch-result events read from the queue, by what became of them: applied (woke a poll that "
    "was written), requeued (that poll failed: left for redelivery), passed_on (job not tracked here: put "
    "back for another replica), duplicate, finished, unknown_job, other_type, malformed",
    ["outcome"],
)
LAUNCH_EVENTS_QUEUE_UP = Gauge(
    "poller_launch_events_queue_up",
    "1 while the launch-event queue answers, 0 while it does not (tracking falls back to polling alone)",
)
LAUNCH_EVENTS_QUEUE_ERRORS = Counter(
    "poller_launch_events_queue_errors_total",
    "Failed calls to the launch-event queue, by operation and error code",
    ["operation", "code"],
)
LAUNCH_DETECTION = Histogram(
    "poller_launch_detection_seconds",
    "Server launch results (LAUNCHED/FAILED) written, by what triggered the poll: event (from the event's "
    "queueing) or timer (from the previous poll, an upper bound)",
    ["trigger"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 60, 120),
)
