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
in O(1) until its next launch result is due). Sending runs in one worker thread, so the
simulator's event loop never waits on EventBridge.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
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
    _pending: dict[str, _Pending] = field(default_factory=dict)

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
        """Until cancelled: every tick, send what became due (in the worker thread)."""
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="drssim-events") as pool:
            while True:
                batch = self.due()
                if batch:
                    loop.run_in_executor(pool, self._send_all, batch)
                await asyncio.sleep(self.options.tick_seconds)

    def _send_all(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        by_region: dict[str, list[dict[str, Any]]] = {}
        for region, entry in batch:
            by_region.setdefault(region, []).append(entry)
        assert self.send is not None
        for region, entries in by_region.items():
            for start in range(0, len(entries), MAX_ENTRIES_PER_CALL):
                chunk = entries[start : start + MAX_ENTRIES_PER_CALL]
                try:
                    self.send(region, chunk)
                    self.sent += len(chunk)
                except Exception as err:  # best effort, like EventBridge: log and go on
                    self.failed_sends += len(chunk)
                    log.warning("drssim: PutEvents to %s failed: %s", region, err)


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
        events.put_targets(Rule=f"{name}-rule", Targets=[{"Id": "launch-events", "Arn": target}])
    return queue_url
