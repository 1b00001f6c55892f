"""Prometheus metrics: the one piece of process-wide state, as prometheus-client intends.

Names are the contract with the Grafana dashboard and the CloudWatch alarms; a test scrapes a
running daemon and checks every dashboard query against them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

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
MALFORMED_ITEMS = Counter(
    "poller_malformed_items_total",
    "Execution items left untouched because unreadable, or untrackable for a reason a retry cannot fix "
    "(bad job ID, unserved region, counter too large, crash on its data)",
)
REFUSED_JOB_IDS = Counter(
    "poller_drs_refused_job_ids_total",
    "Job IDs kept out of DescribeJobs: not_sent (not a DRS job ID, or refused before), "
    "refused_by_drs (ValidationException, isolated by splitting the call)",
    ["reason"],
)
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
    "Garbage collections (the loop stops meanwhile), by generation: 1 every POLLER_GC_YOUNG_SECONDS, 2 every POLLER_GC_FULL_SECONDS",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
HTTP_CONNECTIONS_CLOSED = Counter(
    "poller_http_connections_closed_total",
    "HTTP connections the server closed on a client: over_cap (POLLER_HTTP_MAX_CONNECTIONS), "
    "request_timeout (a request not in within POLLER_HTTP_REQUEST_TIMEOUT_SECONDS)",
    ["reason"],
)
LEASES_HELD = Gauge("poller_leases_held", "Execution leases this replica holds")
LEASES_CLAIMED = Counter("poller_leases_claimed_total", "Execution leases claimed")
LEASES_LOST = Counter("poller_leases_lost_total", "Leases found taken by another replica at write time")
LEASES_TAKEN_OVER = Counter("poller_leases_taken_over_total", "Expired leases of another replica taken over")
LAUNCHES = Counter(
    "poller_launches_total",
    "Wave launches by outcome: started, adopted, rejected, retry, unknown, gave_up, skipped, "
    "waiting (for DRS capacity), refused (402/409: waits again), capacity_gave_up",
    ["outcome"],
)
EVENTS_PUBLISHED = Counter(
    "poller_events_published_total",
    "Completion events sent to EventBridge: ok, rejected (FailedEntryCount), error",
    ["outcome"],
)
WAVES_PAUSED = Counter(
    "poller_waves_paused_total", "Waves that stopped before launch to wait for an operator (PauseBefore)"
)
OPERATOR_ACTIONS = Counter(
    "poller_operator_actions_total",
    "Operator requests (resume, retry, skip) by outcome: applied, unchanged (already in effect), refused",
    ["action", "outcome"],
)


class _SummedCounter(Collector):
    """An unlabelled counter summed at scrape time over the samples of a labelled one whose
    ``label`` value passes ``keep``.

    For the CloudWatch alarms: a labelled series exists only once its label set was first used,
    and the EMF exporter needs a series before its first increment to see that increment. An
    unlabelled sum is exported from the first scrape (at 0), whatever outcome codes DRS or
    DynamoDB invent later.
    """

    _type = "counter"

    def __init__(
        self, name: str, documentation: str, source: Counter, label: str, keep: Callable[[str], bool]
    ):
        self._name = name
        self._documentation = documentation
        self._source = source
        self._label = label
        self._keep = keep
        REGISTRY.register(self)

    def describe(self) -> Iterable[CounterMetricFamily]:
        return [CounterMetricFamily(self._name, self._documentation)]

    def collect(self) -> Iterator[CounterMetricFamily]:
        total = sum(
            sample.value
            for family in self._source.collect()
            for sample in family.samples
            if sample.name.endswith("_total") and self._keep(sample.labels.get(self._label, ""))
        )
        yield CounterMetricFamily(self._name, self._documentation, value=total)


# DescribeJobs counts "throttled"; StartRecovery counts DRS's error code.
THROTTLING_OUTCOMES = frozenset(
    {"throttled", "ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded"}
)
# A conditional write that lost is the normal way replicas settle a race, not a failure.
DYNAMODB_NOT_FAILURES = frozenset({"ok", "ConditionalCheckFailedException"})

DRS_THROTTLED = _SummedCounter(
    "poller_drs_throttled",
    "DRS calls refused for throttling, every operation (the throttling outcomes of poller_drs_calls_total)",
    DRS_CALLS,
    "outcome",
    THROTTLING_OUTCOMES.__contains__,
)
DYNAMODB_FAILURES = _SummedCounter(
    "poller_dynamodb_failures",
    "DynamoDB calls that failed (poller_dynamodb_calls_total but ok and ConditionalCheckFailedException)",
    DYNAMODB_CALLS,
    "outcome",
    lambda outcome: outcome not in DYNAMODB_NOT_FAILURES,
)


def start_at_zero(counter: Counter, *label_values: str) -> None:
    """Create ``counter``'s series for each value of its one label, at 0 (see _SummedCounter)."""
    for value in label_values:
        counter.labels(value)


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
LAUNCH_EVENT_AGE = Histogram(
    "poller_launch_event_age_seconds",
    "Age of a launch-result event when first received from the queue (from its queueing): how late "
    "EventBridge and SQS hand it over",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
LAUNCH_DETECTION = Histogram(
    "poller_launch_detection_seconds",
    "Server launch results (LAUNCHED/FAILED) written, by what triggered the poll: event (from the event's "
    "queueing) or timer (from the previous poll, an upper bound)",
    ["trigger"],
    buckets=(0.25, 0.5, 1, 2, 5, 10, 15, 30, 45, 60, 120),
)
WAVES_WAITING_FOR_CAPACITY = Gauge(
    "poller_waves_waiting_for_capacity",
    "Waves ready to start that wait for DRS capacity, per account and region (this replica's queue)",
    ["account", "region"],
)
DRS_CAPACITY_IN_USE = Gauge(
    "poller_drs_capacity_in_use",
    "Active DRS jobs and their source servers (resource=jobs|servers) per account and region, as last known",
    ["account", "region", "resource"],
)
ASSUME_ROLE_CALLS = Counter(
    "poller_assume_role_calls_total",
    "AssumeRole calls for member accounts (a wave's AccountId), by account and outcome: ok, or STS's "
    "error code (AccessDenied: the member role's trust policy or the task role's sts:AssumeRole)",
    ["account", "outcome"],
)
REPLICAS_LIVE = Gauge("poller_replicas_live", "Live replicas (this one included), from the membership record")
REPLICA_SHARE = Gauge(
    "poller_replica_share", "Executions this replica should track: POLLING executions / live replicas"
)
EXECUTIONS_SHED = Counter(
    "poller_executions_shed_total", "Executions given back to other replicas (held more than share + slack)"
)

# ---- drill cleanup and recovery-time evidence (poller/pipeline/cleanup.py, poller/domain/evidence.py)
CLEANUP_INSTANCES = Counter(
    "poller_cleanup_instances_total",
    "Recovery instances whose cleanup finished, by outcome: terminated, failed",
    ["outcome"],
)
RECOVERY_TIME = Histogram(
    "poller_recovery_time_seconds",
    "Achieved recovery time of finished executions: StartTime to the slowest server usable",
    ["type", "outcome"],
    buckets=(60, 300, 600, 900, 1200, 1800, 2400, 3600, 7200, 14400),
)
PLAN_LAST_RECOVERY = Gauge(
    "poller_plan_last_recovery_seconds",
    "Achieved recovery time of the plan's last finished execution",
    ["plan"],
)
PLAN_RTO_MET = Gauge(
    "poller_plan_rto_met",
    "1 if the plan's last finished execution met its RtoTargetSeconds, else 0",
    ["plan"],
)
