"""Test-plan vocabulary over real servers: seed, read back, wait — all through boto3 clients."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import boto3
import requests
from prometheus_client.parser import text_string_to_metric_families

from poller.runtime.daemon import Daemon
from poller.store.dynamodb import deserialize, serialize
from tests.conftest import daemon_running as daemon_running  # re-exported: tests import it from here
from tests.ids import source_server_id


def drs_client(endpoint_url: str, region: str = "us-east-1") -> Any:
    return boto3.client("drs", endpoint_url=endpoint_url, region_name=region)


def start_recovery(endpoint_url: str, region: str, server_ids: Sequence[str], is_drill: bool = True) -> str:
    """One DRS job for a wave, as the launcher does; returns its jobID."""
    job = drs_client(endpoint_url, region).start_recovery(
        sourceServers=[{"sourceServerID": s} for s in server_ids], isDrill=is_drill
    )["job"]
    return str(job["jobID"])


@dataclass
class SeedWave:
    region: str
    servers: list[str]
    name: str = ""
    job_id: str | None = None


@dataclass
class SeededExecution:
    execution_id: str
    waves: list[SeedWave] = field(default_factory=list)

    @property
    def job_ids(self) -> list[str]:
        return [w.job_id for w in self.waves if w.job_id]


def seed_execution(
    dynamodb: Any,
    table: str,
    drs_url: str,
    waves: Sequence[SeedWave],
    execution_type: str = "DRILL",
    status: str = "POLLING",
    start_time: float | None = None,
    execution_id: str | None = None,
) -> SeededExecution:
    """Start one DRS job per wave in drssim and write the execution item as the launcher would."""
    execution_id = execution_id or f"exec-{uuid.uuid4().hex[:12]}"
    items = []
    for i, wave in enumerate(waves):
        wave.name = wave.name or f"Wave-{i + 1}"
        wave.job_id = wave.job_id or start_recovery(
            drs_url, wave.region, wave.servers, execution_type == "DRILL"
        )
        items.append(
            {
                "WaveName": wave.name,
                "Region": wave.region,
                "Status": "LAUNCHING",
                "Servers": [
                    {"SourceServerId": s, "RecoveryJobId": wave.job_id, "Status": "LAUNCHING"}
                    for s in wave.servers
                ],
            }
        )
    item = {
        "ExecutionId": execution_id,
        "PlanId": "test-plan-1",
        "ExecutionType": execution_type,
        "Status": status,
        "StartTime": Decimal(str(round(start_time if start_time is not None else time.time(), 3))),
        "Waves": items,
        "Version": 0,
    }
    dynamodb.put_item(TableName=table, Item=serialize(item))
    return SeededExecution(execution_id, list(waves))


def get_execution_from_dynamodb(dynamodb: Any, table: str, execution_id: str) -> dict[str, Any]:
    item = dynamodb.get_item(TableName=table, Key={"ExecutionId": {"S": execution_id}}, ConsistentRead=True)
    return deserialize(item["Item"])


def query_status_index(
    dynamodb: Any, table: str, status: str, index: str = "StatusIndex"
) -> list[dict[str, Any]]:
    """The executions in ``status`` as full items: the index gives their ids (it carries only a
    summary, see ``poller.store.tables.STATUS_INDEX_ATTRIBUTES``), the table their state."""
    return [
        get_execution_from_dynamodb(dynamodb, table, str(summary["ExecutionId"]))
        for summary in query_status_index_summaries(dynamodb, table, status, index)
    ]


def query_status_index_summaries(
    dynamodb: Any, table: str, status: str, index: str = "StatusIndex"
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "Status"},
        "ExpressionAttributeValues": {":s": {"S": status}},
    }
    return _every_page(dynamodb.query, params)


def scan_executions(dynamodb: Any, table: str, status: str) -> list[dict[str, Any]]:
    """Every execution in ``status``, read in one consistent scan (a request a page): what
    ``query_status_index`` reads with one request per item, for tests that watch many executions
    while a busy daemon keeps moto's one request at a time queue long."""
    params: dict[str, Any] = {
        "TableName": table,
        "ConsistentRead": True,
        "FilterExpression": "#s = :s",
        "ExpressionAttributeNames": {"#s": "Status"},
        "ExpressionAttributeValues": {":s": {"S": status}},
    }
    return _every_page(dynamodb.scan, params)


def all_servers(execution: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for w in execution["Waves"] for s in w["Servers"]]


async def wait_until(
    read: Callable[[], Any], condition: Callable[[Any], bool], timeout: float, what: str, every: float = 0.05
) -> Any:
    """Poll ``read`` (run in a thread, it may block) until ``condition`` holds, or fail saying what.

    ``every``: the pause between reads. A read that scans many items of moto (which serves one
    request at a time) should pause longer, or it takes moto's time from the daemon under test."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(read)
        if condition(value):
            return value
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value: {value!r}")


async def wait_for_ticks(daemon: Daemon, count: int, timeout: float = 30.0) -> None:
    """Until ``daemon``'s loop has run ``count`` more whole ticks (its tick hooks, the launcher's
    among them, then a finder pass), counted through its public ``tick_hooks``: a wait for what must
    have happened, which fails if the loop does not run, never a fixed sleep."""
    calls = 0
    called = asyncio.Event()

    async def counted() -> None:
        nonlocal calls
        calls += 1
        called.set()

    daemon.tick_hooks.append(counted)
    try:
        async with asyncio.timeout(timeout):
            while calls <= count:  # the first call may come mid-tick: count+1 calls end count whole ticks
                called.clear()
                await called.wait()
    except TimeoutError:
        raise AssertionError(f"{calls} of {count + 1} finder ticks within {timeout} s") from None
    finally:
        daemon.tick_hooks.remove(counted)


# ---- through the API (Layer 2 as the plan writes it) ------------------------------------------
async def api(method: str, url: str, **kwargs: Any) -> requests.Response:
    """``requests`` in a thread: the daemon runs in this test's event loop and must keep serving."""
    kwargs.setdefault("timeout", 10)
    return await asyncio.to_thread(requests.request, method, url, **kwargs)


def plan_body(
    num_waves: int = 1,
    servers_per_wave: int = 2,
    wave_order: str = "PARALLEL",
    plan_id: str | None = None,
    regions: Sequence[str] = ("us-east-1",),
) -> dict[str, Any]:
    """A valid POST /plans body with fresh source server IDs; waves cycle through ``regions``."""
    body: dict[str, Any] = {
        "PlanName": f"test plan ({num_waves} waves)",
        "WaveOrder": wave_order,
        "Waves": [
            {
                "WaveName": f"Wave-{i + 1}",
                "Region": regions[i % len(regions)],
                "SourceServerIds": [source_server_id() for _ in range(servers_per_wave)],
            }
            for i in range(num_waves)
        ],
    }
    if plan_id is not None:
        body["PlanId"] = plan_id
    return body


async def create_test_plan_with_waves(
    api_url: str,
    num_waves: int = 3,
    servers_per_wave: int = 2,
    wave_order: str = "PARALLEL",
    plan_id: str | None = None,
    regions: Sequence[str] = ("us-east-1",),
) -> dict[str, Any]:
    """POST /plans and return the plan as GET /plans/{id} shows it."""
    body = plan_body(num_waves, servers_per_wave, wave_order, plan_id, regions)
    created = await api("POST", f"{api_url}/plans", json=body)
    assert created.status_code == 201, created.text
    fetched = await api("GET", f"{api_url}/plans/{created.json()['PlanId']}")
    assert fetched.status_code == 200, fetched.text
    return dict(fetched.json())


async def wait_for_status(
    dynamodb: Any, table: str, execution_id: str, status: str, timeout: float
) -> dict[str, Any]:
    """The execution item once its Status is ``status`` (fails after ``timeout`` seconds)."""
    result: dict[str, Any] = await wait_until(
        lambda: get_execution_from_dynamodb(dynamodb, table, execution_id),
        lambda e: e["Status"] == status,
        timeout,
        f"execution {execution_id} {status}",
    )
    return result


def job_ids_of(execution: dict[str, Any]) -> list[str]:
    """The distinct RecoveryJobIds of an execution item, in wave order."""
    ids = [s.get("RecoveryJobId") for s in all_servers(execution)]
    return list(dict.fromkeys(i for i in ids if i))


def metric_value(metrics_text: str, name: str, **labels: str) -> float:
    """One sample of a Prometheus text exposition, read with prometheus-client's parser (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def seed_single_server_executions(dynamodb: Any, table: str, drs_url: str, n: int) -> list[str]:
    """``n`` POLLING executions of one wave with one server each; returns their ids."""
    return [
        seed_execution(dynamodb, table, drs_url, [SeedWave("us-east-1", [source_server_id()])]).execution_id
        for _ in range(n)
    ]


def daemon_process_env(
    moto_url: str, drs_url: str, table: str, plans_table: str, **settings: Any
) -> dict[str, str]:
    """Environment for a ``poller run`` child process: fast intervals, no config file, no stray POLLER_*."""
    from tests.conftest import FAST_INTERVALS

    env = {k: v for k, v in os.environ.items() if not k.startswith("POLLER_")}
    values: dict[str, Any] = {
        **FAST_INTERVALS,
        "table_name": table,
        "plans_table_name": plans_table,
        "dynamodb_endpoint_url": moto_url,
        "drs_endpoint_url": drs_url,
        "log_format": "json",
        "config_file": "/nonexistent",
        **settings,
    }
    env.update({f"POLLER_{k.upper()}": str(v) for k, v in values.items()})
    return env


def _every_page(call: Callable[..., Any], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The deserialized items of every page of a Query or Scan (LastEvaluatedKey followed)."""
    items: list[dict[str, Any]] = []
    while True:
        page = call(**params)
        items.extend(deserialize(i) for i in page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        params = {**params, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def completion_event_queue(moto_url: str) -> tuple[str, Any, str]:
    """An EventBridge bus whose completion events land in an SQS queue: (bus, sqs client, queue url)."""
    bus = f"drs-events-{uuid.uuid4().hex[:8]}"
    events = boto3.client("events", endpoint_url=moto_url, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1")
    events.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=bus)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="all", EventBusName=bus, EventPattern=json.dumps({"source": ["drs-execution-poller"]})
    )
    events.put_targets(Rule="all", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return bus, sqs, queue
