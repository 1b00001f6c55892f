"""Launch-result events: what DRS publishes to EventBridge when a server's launch ends.

Real DRS sends "DRS Source Server Launch Result" (source ``aws.drs``, best effort) with
``detail.state`` RECOVERY_LAUNCH_SUCCEEDED or RECOVERY_LAUNCH_FAILED, ``detail."job-id"``,
``detail."is-drill"`` ("TRUE"/"FALSE") and the source server's ARN in ``resources``. drssim
sends the same event to an EventBridge endpoint (``drssim serve --events-endpoint-url``, off by
default), in the job's region, once per server of a LAUNCH job, when the timeline makes it
LAUNCHED or FAILED (holds, forced phases and injected failures included).

Best effort on purpose, when asked: ``drop_rate`` loses a share of the events and
``duplicate_rate`` sends a share twice, as EventBridge may.

Job status in drssim is computed from the clock on every read, so nothing ticks by itself:
the emitter looks at the jobs with unreported servers every ``tick_seconds`` (a job is skipped
in O(1) until its next launch result is due). Sending runs in ``senders`` worker threads, one
PutEvents (up to 10 entries) each at a time, so the simulator's event loop never waits on
EventBridge and a burst of launches (a whole job's servers) is not sent one call after another.
Each sent entry's wall time is kept (``sent_log``, the control API's ``GET /_sim/events``): the
first leg of an event's way, for benchmarks that follow it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from drssim.state import Job, Simulator

log = logging.getLogger("drssim.events")

SOURCE = "aws.drs"
DETAIL_TYPE = "DRS Source Server Launch Result"
SUCCEEDED = "RECOVERY_LAUNCH_SUCCEEDED"
FAILED = "RECOVERY_LAUNCH_FAILED"
MAX_ENTRIES_PER_CALL = 10  # PutEvents' limit


@dataclass(frozen=True)
class EventOptions:
    endpoint_url: str
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    tick_seconds: float = 0.1
    senders: int = 4  # PutEvents calls in flight at once


def launch_result_entry(job: Job, source_server_id: str, failed: bool) -> dict[str, Any]:
    """The PutEvents entry DRS would send for one server's launch result."""
    detail = {
        "state": FAILED if failed else SUCCEEDED,
        "job-id": job.job_id,
        "is-drill": "TRUE" if job.is_drill else "FALSE",
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPE,
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:drs:{job.region}:{job.account}:source-server/{source_server_id}"],
    }


Sender = Callable[[str, list[dict[str, Any]]], None]  # (region, entries) -> None


@dataclass
class _Pending:
    job: Job
    unreported: set[str]
    plan: Any = None  # the plan next_at was computed from (fail-server replaces it)
    next_at: float = 0.0


@dataclass
class LaunchEventEmitter:
    """Finds launch results as they happen and sends them; counts what it sent."""

    sim: Simulator
    options: EventOptions
    send: Sender | None = None
    rng: random.Random = field(default_factory=random.Random)
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    failed_sends: int = 0
    #: (job ID, source server ID, state, wall time PutEvents returned) per sent entry, oldest first
    sent_log: list[tuple[str, str, str, float]] = field(default_factory=list)
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.send is None:
            self.send = _botocore_sender(self.options.endpoint_url)
        self.sim.job_listeners.append(self.job_created)

    def job_created(self, job: Job) -> None:
        if job.type == "LAUNCH":
            servers = {sp.source_server_id for sp in job.plan.servers}
            self._pending[job.job_id] = _Pending(job, servers)

    def due(self) -> list[tuple[str, dict[str, Any]]]:
        """(region, entry) for every launch result reached since the last call."""
        now = self.sim.clock.now()
        out: list[tuple[str, dict[str, Any]]] = []
        for job_id in list(self._pending):
            pending = self._pending[job_id]
            job = pending.job
            if self.sim.jobs.get(job_id) is not job:  # reset
                del self._pending[job_id]
                continue
            if pending.plan is not job.plan:
                pending.plan = job.plan
                pending.next_at = min(job.plan.server(s).terminal_at for s in pending.unreported)
            t = job.local(now)
            if t < pending.next_at:
                continue
            for sid in sorted(pending.unreported):
                sp = job.plan.server(sid)
                if t >= sp.terminal_at:
                    pending.unreported.discard(sid)
                    out.extend(self._fate(job.region, launch_result_entry(job, sid, sp.fails)))
            if pending.unreported:
                pending.next_at = min(job.plan.server(s).terminal_at for s in pending.unreported)
            else:
                del self._pending[job_id]
        return out

    def _fate(self, region: str, entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        if self.rng.random() < self.options.drop_rate:
            self.dropped += 1
            return []
        if self.rng.random() < self.options.duplicate_rate:
            self.duplicated += 1
            return [(region, entry), (region, entry)]
        return [(region, entry)]

    async def run(self) -> None:
        """Until cancelled: every tick, send what became due (in the worker threads, one
        PutEvents of up to 10 entries per region each)."""
        loop = asyncio.get_running_loop()
        workers = max(1, self.options.senders)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drssim-events") as pool:
            while True:
                for region, chunk in calls(self.due()):
                    loop.run_in_executor(pool, self._send_chunk, region, chunk)
                await asyncio.sleep(self.options.tick_seconds)

    def report(self) -> dict[str, Any]:
        """Counts and every sent entry (JSON-ready; the control API's ``GET /_sim/events``)."""
        with self._lock:
            return {
                "sent": self.sent,
                "dropped": self.dropped,
                "duplicated": self.duplicated,
                "failedSends": self.failed_sends,
                "entries": [
                    {"jobID": job, "sourceServerID": server, "state": state, "wallTime": at}
                    for job, server, state, at in self.sent_log
                ],
            }

    def _send_chunk(self, region: str, chunk: list[dict[str, Any]]) -> None:
        assert self.send is not None
        try:
            self.send(region, chunk)
        except Exception as err:  # best effort, like EventBridge: log and go on
            with self._lock:
                self.failed_sends += len(chunk)
            log.warning("drssim: PutEvents to %s failed: %s", region, err)
            return
        now = time.time()
        with self._lock:
            self.sent += len(chunk)
            self.sent_log.extend((*_identity(entry), now) for entry in chunk)


def calls(batch: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(region, entries) per PutEvents: the batch's entries by region, at most 10 per call."""
    by_region: dict[str, list[dict[str, Any]]] = {}
    for region, entry in batch:
        by_region.setdefault(region, []).append(entry)
    return [
        (region, entries[start : start + MAX_ENTRIES_PER_CALL])
        for region, entries in by_region.items()
        for start in range(0, len(entries), MAX_ENTRIES_PER_CALL)
    ]


def _identity(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(job ID, source server ID, state) of an entry made by :func:`launch_result_entry`."""
    detail = json.loads(entry["Detail"])
    return detail["job-id"], entry["Resources"][0].rsplit("/", 1)[-1], detail["state"]


def _botocore_sender(endpoint_url: str) -> Sender:
    """PutEvents through botocore (signed like any AWS client), one client per region."""
    import botocore.session

    session = botocore.session.get_session()
    clients: dict[str, Any] = {}

    def send(region: str, entries: list[dict[str, Any]]) -> None:
        client = clients.get(region)
        if client is None:
            client = clients[region] = session.create_client(
                "events", region_name=region, endpoint_url=endpoint_url
            )
        answer = client.put_events(Entries=entries)
        if answer.get("FailedEntryCount"):
            raise RuntimeError(f"{answer['FailedEntryCount']} of {len(entries)} entries rejected")

    return send


LAUNCH_RESULT_PATTERN = {"source": [SOURCE], "detail-type": [DETAIL_TYPE]}

#: The target's input is the whole event, as AWS delivers it when a target names no input. Said
#: explicitly for moto: without it, moto rebuilds each event from eight JSONPath expressions,
#: parsed anew per event, which makes its EventBridge → SQS delivery ~2.4× slower.
WHOLE_EVENT = {"InputPathsMap": {"id": "$.id"}, "InputTemplate": "<aws.events.event.json>"}


def create_launch_event_queue(
    endpoint_url: str, queue_region: str, drs_regions: Sequence[str], name: str = "drs-launch-events"
) -> str:
    """On an EventBridge + SQS stand-in (moto): the queue (with a dead-letter queue) that a rule
    fills with launch-result events, as deploy/poller.yaml creates on AWS; returns its URL.

    DRS publishes in the region of the job. The rule in the queue's region targets the queue; a
    rule in every other region forwards to the queue region's default bus, as on AWS (a rule
    cannot target a queue in another region). Idempotent: run it again, get the same queue.
    """
    import botocore.session

    session = botocore.session.get_session()
    sqs = session.create_client("sqs", region_name=queue_region, endpoint_url=endpoint_url)

    def arn_of(url: str) -> str:
        return str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    dead_letters = arn_of(sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"])
    redrive = json.dumps({"deadLetterTargetArn": dead_letters, "maxReceiveCount": "5"})
    queue_url = str(
        sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "60"})[
            "QueueUrl"
        ]
    )
    queue_arn = arn_of(queue_url)
    account = queue_arn.split(":")[4]
    for region in dict.fromkeys([queue_region, *drs_regions]):
        events = session.create_client("events", region_name=region, endpoint_url=endpoint_url)
        events.put_rule(Name=f"{name}-rule", EventPattern=json.dumps(LAUNCH_RESULT_PATTERN), State="ENABLED")
        target = (
            queue_arn
            if region == queue_region
            else f"arn:aws:events:{queue_region}:{account}:event-bus/default"
        )
        events.put_targets(
            Rule=f"{name}-rule",
            Targets=[{"Id": "launch-events", "Arn": target, "InputTransformer": WHOLE_EVENT}],
        )
    return queue_url
