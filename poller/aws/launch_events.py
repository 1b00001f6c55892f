"""Launch-result events: long-poll the SQS queue an EventBridge rule fills with DRS's
"DRS Source Server Launch Result" events, and hand each to the wake board.

The event, as DRS publishes it (source ``aws.drs``)::

    {"detail-type": "DRS Source Server Launch Result", "source": "aws.drs", "region": "us-west-2",
     "resources": ["arn:aws:drs:us-west-2:111122223333:source-server/s-12345678901234567"],
     "detail": {"state": "RECOVERY_LAUNCH_SUCCEEDED", "job-id": "drsjob-...", "is-drill": "FALSE"}}

The source server is in ``resources``, not in ``detail``. Delivery is best effort, so an event
is a hint: it wakes the poll of the tracker waiting on its job, and DescribeJobs decides. A
message is deleted once that poll was written, or at once when it is dropped (duplicate,
finished job, another detail type, a malformed body: counted by outcome). An event for a job
this replica does not track may belong to another replica reading the same queue: it is made
visible again at once, up to ``handoffs`` times, and only then dropped as ``unknown_job``.
Several long polls are in flight at once (``receivers``), so a burst of events is not read ten
at a time one round trip after another, and deletes are batched (DeleteMessageBatch, up to 10)
off the receiving path, so a receive never waits for a delete. A queue
that does not answer leaves the daemon polling as without events: a metric, one log line per
outage, retries with capped backoff; readiness does not depend on it.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics

if TYPE_CHECKING:
    from poller.pipeline.wake import Wake

log = structlog.get_logger("poller.aws.launch_events")

SOURCE = "aws.drs"
DETAIL_TYPE = "DRS Source Server Launch Result"
STATES = frozenset({"RECOVERY_LAUNCH_SUCCEEDED", "RECOVERY_LAUNCH_FAILED"})
JOB_ID = re.compile(r"^drsjob-[0-9a-zA-Z]{17}$")
SOURCE_SERVER_ARN = re.compile(r"^arn:aws[a-z-]*:drs:[a-z0-9-]+:\d{12}:source-server/(s-[0-9a-zA-Z]{17})$")
MAX_MESSAGES = 10  # SQS's limit per ReceiveMessage


@dataclass(frozen=True)
class LaunchResult:
    job_id: str
    state: str
    source_server_id: str | None  # None when the event names no source server ARN we can read
    region: str | None
    is_drill: bool | None
    event_id: str = ""


class NotALaunchResult(ValueError):
    """Why a message is dropped: ``malformed`` (unreadable) or ``other_type`` (another event)."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome


def parse_launch_event(body: str) -> LaunchResult:
    """The launch result a message body carries, or ``NotALaunchResult``."""
    try:
        event = json.loads(body)
    except (ValueError, TypeError) as err:
        raise NotALaunchResult("malformed", f"body is not JSON: {err}") from None
    if not isinstance(event, dict):
        raise NotALaunchResult("malformed", "body is not a JSON object")
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise NotALaunchResult("other_type", f"{event.get('source')!r} / {event.get('detail-type')!r}")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise NotALaunchResult("malformed", "detail is not an object")
    state = detail.get("state")
    if state not in STATES:
        raise NotALaunchResult("other_type", f"state {state!r}")
    job_id = detail.get("job-id")
    if not isinstance(job_id, str) or not JOB_ID.match(job_id):
        raise NotALaunchResult("malformed", f"job-id {job_id!r}")
    resources = event.get("resources")
    server = None
    if isinstance(resources, list):
        for arn in resources:
            match = SOURCE_SERVER_ARN.match(arn) if isinstance(arn, str) else None
            if match:
                server = match.group(1)
                break
    drill = detail.get("is-drill")
    region = event.get("region")
    return LaunchResult(
        job_id=job_id,
        state=str(state),
        source_server_id=server,
        region=region if isinstance(region, str) else None,
        is_drill=str(drill).upper() == "TRUE" if drill is not None else None,
        event_id=str(event.get("id") or ""),
    )


Offer = Callable[[str, str | None, str, float, str], "Wake | str"]


class LaunchEventConsumer:
    """Reads the queue until stopped; never raises out of ``run`` for a queue or message problem."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        offer: Offer,
        wait_seconds: int = 20,
        max_backoff_seconds: float = 60.0,
        handoffs: int = 3,
        clock: Callable[[], float] = time.time,
        receivers: int = 2,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._offer = offer
        self._wait_seconds = wait_seconds
        self._max_backoff = max_backoff_seconds
        self._handoffs = handoffs
        self._clock = clock
        self._receivers = max(1, receivers)
        self._failures = 0
        self._waiting: set[asyncio.Task[None]] = set()
        self._deletions: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._deleter: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """``receivers`` long polls in flight at once until ``stop``; deletes go out in batches of
        up to 10 from one deleter, which outlives ``run`` until :meth:`drain`."""
        metrics.LAUNCH_EVENTS_QUEUE_UP.set(1)
        log.info("launch_events_reading", queue_url=self._queue_url, receivers=self._receivers)
        if self._deleter is None:
            self._deleter = asyncio.get_running_loop().create_task(self._delete_queued())
        await asyncio.gather(*(self._receive_until(stop) for _ in range(self._receivers)))

    async def _receive_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                messages = await self._receive()
                if messages is None:
                    await _wait(stop, self._backoff())
                    continue
                passed = []
                for message in messages:
                    outcome = self._handle(message)
                    if outcome == "drop":
                        self._deletions.put_nowait(message)
                    elif outcome == "pass":
                        passed.append(message)
                if passed:
                    await self._pass_on(passed)
            except Exception as err:  # a surprise must not end event reading, let alone the daemon
                self._unreachable("Unexpected", err)
                log.exception("launch_events_crashed", error=repr(err))
                await _wait(stop, self._backoff())

    async def drain(self, timeout: float) -> None:
        """Let the deletes of polls written during shutdown finish; the rest is redelivered later."""
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        if self._waiting:
            _, pending = await asyncio.wait(list(self._waiting), timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._deleter is not None:
            try:
                await asyncio.wait_for(self._deletions.join(), max(0.0, until - loop.time()))
            except TimeoutError:
                pass
            self._deleter.cancel()
            await asyncio.gather(self._deleter, return_exceptions=True)
            self._deleter = None

    async def _receive(self) -> list[dict[str, Any]] | None:
        try:
            answer = await self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=MAX_MESSAGES,
                WaitTimeSeconds=self._wait_seconds,
                AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        except (ClientError, BotoCoreError) as err:
            self._unreachable("ReceiveMessage", err)
            return None
        if self._failures:
            log.info("launch_events_queue_reachable", after_failures=self._failures)
            self._failures = 0
            metrics.LAUNCH_EVENTS_QUEUE_UP.set(1)
        return list(answer.get("Messages") or [])

    def _unreachable(self, operation: str, err: BaseException) -> None:
        code = _code(err)
        metrics.LAUNCH_EVENTS_QUEUE_ERRORS.labels(operation, code).inc()
        self._failures += 1
        if self._failures == 1:  # one line per outage, not one per retry
            metrics.LAUNCH_EVENTS_QUEUE_UP.set(0)
            log.warning(
                "launch_events_queue_unreachable",
                code=code,
                error=str(err),
                hint="tracking goes on by polling alone; check POLLER_LAUNCH_EVENTS_QUEUE_URL, the queue, "
                "and the task role's sqs:ReceiveMessage",
            )

    def _backoff(self) -> float:
        cap = min(self._max_backoff, 2.0 ** min(self._failures, 6))
        return random.uniform(cap / 2, cap)

    def _handle(self, message: dict[str, Any]) -> str:
        """``wake`` (a wake owns the message: deleted once its poll is written), ``drop``
        (delete now) or ``pass`` (another replica may track its job: make it visible again)."""
        try:
            event = parse_launch_event(message.get("Body", ""))
        except NotALaunchResult as err:
            metrics.LAUNCH_EVENTS.labels(err.outcome).inc()
            if err.outcome == "malformed":
                log.warning("launch_event_malformed", message_id=message.get("MessageId"), reason=str(err))
            return "drop"
        sent_at = self._sent_at(message)
        if _receive_count(message) == 1:
            metrics.LAUNCH_EVENT_AGE.observe(max(0.0, self._clock() - sent_at))
        result = self._offer(event.job_id, event.source_server_id, event.state, sent_at, event.event_id)
        if result == "unknown_job" and _receive_count(message) <= self._handoffs:
            metrics.LAUNCH_EVENTS.labels("passed_on").inc()
            return "pass"
        if isinstance(result, str):
            metrics.LAUNCH_EVENTS.labels(result).inc()
            return "drop"
        task = asyncio.get_running_loop().create_task(self._delete_when_written(result, message))
        self._waiting.add(task)
        task.add_done_callback(self._waiting.discard)
        return "wake"

    def _sent_at(self, message: dict[str, Any]) -> float:
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        try:
            return int(str(sent)) / 1000.0
        except (TypeError, ValueError):
            return self._clock()

    async def _delete_when_written(self, wake: Wake, message: dict[str, Any]) -> None:
        if await wake.written:
            metrics.LAUNCH_EVENTS.labels("applied").inc()
            self._deletions.put_nowait(message)
        else:
            metrics.LAUNCH_EVENTS.labels("requeued").inc()

    async def _delete_queued(self) -> None:
        """One DeleteMessageBatch at a time, of every message queued meanwhile (up to 10)."""
        while True:
            batch = [await self._deletions.get()]
            while len(batch) < MAX_MESSAGES and not self._deletions.empty():
                batch.append(self._deletions.get_nowait())
            try:
                await self._delete(batch)
            except Exception as err:  # redelivered later, then dropped as a duplicate or finished
                log.warning("launch_events_delete_failed", error=repr(err))
            finally:
                for _ in batch:
                    self._deletions.task_done()

    async def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        try:
            answer = await self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as err:  # redelivered later, then dropped as a duplicate
            metrics.LAUNCH_EVENTS_QUEUE_ERRORS.labels("DeleteMessageBatch", _code(err)).inc()
            log.warning("launch_events_delete_failed", code=_code(err), error=str(err))
            return
        for failed in answer.get("Failed") or []:
            metrics.LAUNCH_EVENTS_QUEUE_ERRORS.labels("DeleteMessageBatch", str(failed.get("Code"))).inc()

    async def _pass_on(self, messages: list[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        try:
            await self._sqs.change_message_visibility_batch(QueueUrl=self._queue_url, Entries=entries)
        except (ClientError, BotoCoreError) as err:  # visible again after the visibility timeout anyway
            metrics.LAUNCH_EVENTS_QUEUE_ERRORS.labels("ChangeMessageVisibilityBatch", _code(err)).inc()


def _receive_count(message: dict[str, Any]) -> int:
    try:
        return int(str((message.get("Attributes") or {}).get("ApproximateReceiveCount")))
    except ValueError:
        return 1


def _code(err: BaseException) -> str:
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code") or type(err).__name__)
    return type(err).__name__


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
