"""The API: plans, executions, validation, pagination, idempotency, auth — over HTTP.

One daemon serves the whole module (its launcher is held off by a long launch delay, so
nothing here reaches DRS and the tables change only through the API).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import pytest_asyncio
from drssim.testing import running_simulator

from bench.harness import scan_table
from poller.config import Settings
from poller.store.tables import execution_table_definition, plans_table_definition
from tests.conftest import FAST_INTERVALS, Tables
from tests.integration.support import (
    api,
    create_test_plan_with_waves,
    daemon_running,
    get_execution_from_dynamodb,
    plan_body,
    source_server_id,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@dataclass(frozen=True)
class ApiEnv:
    tables: Tables
    settings: Settings
    dynamodb: Any


@pytest.fixture(scope="module")
def api_env(moto_url: str) -> Iterator[ApiEnv]:
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1")
    tables = Tables(f"api-executions-{uuid.uuid4().hex[:8]}", f"api-plans-{uuid.uuid4().hex[:8]}")
    dynamodb.create_table(**execution_table_definition(tables.executions, tables.index))
    dynamodb.create_table(**plans_table_definition(tables.plans))
    with running_simulator(seed=11) as sim:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            table_name=tables.executions,
            plans_table_name=tables.plans,
            dynamodb_endpoint_url=moto_url,
            drs_endpoint_url=sim.endpoint_url,
            drs_regions=["us-east-1", "us-west-2"],
            http_port=0,
            log_format="json",
            shutdown_grace_seconds=5.0,
            launch_delay_seconds=3600.0,  # API only: the launcher leaves these executions alone
            **FAST_INTERVALS,
        )
        yield ApiEnv(tables, settings, dynamodb)
    for name in (tables.executions, tables.plans):
        dynamodb.delete_table(TableName=name)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def url(api_env: ApiEnv) -> AsyncIterator[str]:
    async with daemon_running(api_env.settings) as running:
        yield running.url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def known(url: str) -> dict[str, str]:
    """A plan, a RECOVERY execution and an execution created with an Idempotency-Key."""
    plan = await create_test_plan_with_waves(url, num_waves=1, plan_id="known-plan")
    recovery = await api(
        "POST", f"{url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "RECOVERY"}
    )
    keyed = await api(
        "POST",
        f"{url}/executions",
        json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"},
        headers={"Idempotency-Key": "known-key"},
    )
    assert recovery.status_code == keyed.status_code == 202
    return {"plan": plan["PlanId"], "recovery": recovery.json()["executionId"]}


def _wave(**overrides: Any) -> dict[str, Any]:
    return {"WaveName": "W", "Region": "us-east-1", "SourceServerIds": [source_server_id()], **overrides}


def _plan(*waves: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"PlanName": "bad", "Waves": list(waves) or [_wave()], **fields}


_DUP = source_server_id()

# (id, method, path, request kwargs, status, field or None, words the message must contain)
BAD_INPUT: list[tuple[str, str, str, dict[str, Any], int, str | None, str]] = [
    ("plan-malformed-json", "POST", "/plans", {"data": b"{not json"}, 400, "body", "not valid JSON"),
    ("plan-not-an-object", "POST", "/plans", {"json": [1, 2]}, 400, "body", "JSON object"),
    ("plan-no-body", "POST", "/plans", {}, 400, "body", "JSON object"),
    (
        "plan-unknown-region",
        "POST",
        "/plans",
        {"json": _plan(_wave(Region="eu-west-1"))},
        400,
        "Waves[0].Region",
        "eu-west-1",
    ),
    (
        "plan-empty-wave",
        "POST",
        "/plans",
        {"json": _plan(_wave(SourceServerIds=[]))},
        400,
        "Waves[0].SourceServerIds",
        "non-empty list",
    ),
    ("plan-no-waves", "POST", "/plans", {"json": {"PlanName": "x", "Waves": []}}, 400, "Waves", "non-empty"),
    (
        "plan-bad-server-id",
        "POST",
        "/plans",
        {"json": _plan(_wave(SourceServerIds=["s-123"]))},
        400,
        "Waves[0].SourceServerIds[0]",
        "s-123",
    ),
    (
        "plan-duplicate-server-across-waves",
        "POST",
        "/plans",
        {
            "json": _plan(
                _wave(WaveName="A", SourceServerIds=[_DUP]), _wave(WaveName="B", SourceServerIds=[_DUP])
            )
        },
        400,
        "Waves[1].SourceServerIds[0]",
        _DUP,
    ),
    (
        "plan-201-servers-in-a-wave",
        "POST",
        "/plans",
        {"json": _plan(_wave(SourceServerIds=[source_server_id() for _ in range(201)]))},
        400,
        "Waves[0].SourceServerIds",
        "at most 200",
    ),
    (
        "plan-bad-wave-order",
        "POST",
        "/plans",
        {"json": _plan(WaveOrder="RANDOM")},
        400,
        "WaveOrder",
        "PARALLEL",
    ),
    ("plan-unknown-field", "POST", "/plans", {"json": _plan(Wavez=[])}, 400, "Wavez", "unknown field"),
    (
        "plan-bad-plan-id",
        "POST",
        "/plans",
        {"json": _plan(PlanId="has space")},
        400,
        "PlanId",
        "PlanId must match",
    ),
    (
        "plan-duplicate-wave-name",
        "POST",
        "/plans",
        {"json": _plan(_wave(), _wave())},
        400,
        "Waves[1].WaveName",
        "twice",
    ),
    (
        "plan-depends-on-later-wave",
        "POST",
        "/plans",
        {"json": _plan(_wave(WaveName="A", DependsOn=["B"]), _wave(WaveName="B"))},
        400,
        "Waves[0].DependsOn",
        "not an earlier wave",
    ),
    (
        "plan-too-large",
        "POST",
        "/plans",
        {"data": b'{"x": "' + b"a" * 300_000 + b'"}'},
        413,
        "body",
        "too large",
    ),
    (
        "plan-duplicate-id",
        "POST",
        "/plans",
        {"json": _plan(PlanId="known-plan")},
        409,
        "PlanId",
        "already exists",
    ),
    ("plan-unknown", "GET", "/plans/no-such-plan", {}, 404, "PlanId", "does not exist"),
    ("plans-bad-limit", "GET", "/plans?limit=0", {}, 400, "limit", "1 to 100"),
    (
        "execution-unknown-plan",
        "POST",
        "/executions",
        {"json": {"PlanId": "nope", "ExecutionType": "DRILL"}},
        404,
        "PlanId",
        "does not exist",
    ),
    (
        "execution-bad-type",
        "POST",
        "/executions",
        {"json": {"PlanId": "known-plan", "ExecutionType": "TEST"}},
        400,
        "ExecutionType",
        "DRILL or RECOVERY",
    ),
    (
        "execution-no-plan-id",
        "POST",
        "/executions",
        {"json": {"ExecutionType": "DRILL"}},
        400,
        "PlanId",
        "required",
    ),
    ("execution-malformed-json", "POST", "/executions", {"data": b"PlanId=1"}, 400, "body", "not valid JSON"),
    (
        "execution-unknown-field",
        "POST",
        "/executions",
        {"json": {"PlanId": "known-plan", "ExecutionType": "DRILL", "Dry": 1}},
        400,
        "Dry",
        "unknown field",
    ),
    (
        "execution-bad-idempotency-key",
        "POST",
        "/executions",
        {"json": {"PlanId": "known-plan", "ExecutionType": "DRILL"}, "headers": {"Idempotency-Key": "a b"}},
        400,
        "Idempotency-Key",
        "printable",
    ),
    (
        "execution-idempotency-key-reused-for-another-request",
        "POST",
        "/executions",
        {
            "json": {"PlanId": "known-plan", "ExecutionType": "RECOVERY"},
            "headers": {"Idempotency-Key": "known-key"},
        },
        422,
        "Idempotency-Key",
        "different request",
    ),
    ("executions-no-status", "GET", "/executions", {}, 400, "status", "required"),
    ("executions-bad-status", "GET", "/executions?status=RUNNING", {}, 400, "status", "POLLING"),
    ("executions-bad-limit", "GET", "/executions?status=POLLING&limit=x", {}, 400, "limit", "integer"),
    (
        "executions-bad-token",
        "GET",
        "/executions?status=POLLING&nextToken=garbage",
        {},
        400,
        "nextToken",
        "token",
    ),
    ("execution-unknown", "GET", "/executions/no-such-execution", {}, 404, "executionId", "does not exist"),
    (
        "cancel-unknown",
        "POST",
        "/executions/no-such-execution/cancel",
        {},
        404,
        "executionId",
        "does not exist",
    ),
    (
        "cancel-bad-option",
        "POST",
        "/executions/{recovery}/cancel",
        {"json": {"terminateRecoveryInstances": "yes"}},
        400,
        "terminateRecoveryInstances",
        "true or false",
    ),
    (
        "cancel-terminate-recovery",
        "POST",
        "/executions/{recovery}/cancel",
        {"json": {"terminateRecoveryInstances": True}},
        400,
        "terminateRecoveryInstances",
        "only for DRILL",
    ),
    ("unknown-route", "GET", "/nowhere", {}, 404, None, "no route"),
    ("wrong-method", "DELETE", "/plans", {}, 405, None, "not allowed"),
]


def _snapshot(env: ApiEnv) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    key = lambda i: str(i.get("ExecutionId") or i.get("PlanId"))  # noqa: E731
    return (
        sorted(scan_table(env.dynamodb, env.tables.executions), key=key),
        sorted(scan_table(env.dynamodb, env.tables.plans), key=key),
    )


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "field", "words"),
    [c[1:] for c in BAD_INPUT],
    ids=[c[0] for c in BAD_INPUT],
)
async def test_bad_input_is_a_json_4xx_and_writes_nothing(
    api_env: ApiEnv,
    url: str,
    known: dict[str, str],
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    field: str | None,
    words: str,
) -> None:
    before = await asyncio.to_thread(_snapshot, api_env)
    response = await api(method, url + path.format(**known), **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert words in body["error"]
    assert body.get("field") == field
    assert await asyncio.to_thread(_snapshot, api_env) == before


async def test_plans_are_created_read_and_listed_page_by_page(url: str, known: dict[str, str]) -> None:
    body = plan_body(
        num_waves=2, wave_order="SEQUENTIAL", plan_id="plan-with-id", regions=("us-east-1", "us-west-2")
    )
    body["Waves"][1]["DependsOn"] = "Wave-1"
    created = await api("POST", f"{url}/plans", json=body)
    assert created.status_code == 201, created.text
    assert created.json() == {"PlanId": "plan-with-id"}
    assert created.headers["Location"] == "/plans/plan-with-id"
    generated = await api("POST", f"{url}/plans", json=plan_body())
    assert generated.status_code == 201
    generated_id = generated.json()["PlanId"]
    uuid.UUID(generated_id)

    plan = (await api("GET", f"{url}/plans/plan-with-id")).json()
    assert plan["WaveOrder"] == "SEQUENTIAL"
    assert [(w["WaveName"], w["Region"], w["SourceServerIds"]) for w in plan["Waves"]] == [
        (w["WaveName"], w["Region"], w["SourceServerIds"]) for w in body["Waves"]
    ]
    assert plan["Waves"][1]["DependsOn"] == ["Wave-1"]
    assert isinstance(plan["CreatedTime"], float)

    seen: list[str] = []
    token: str | None = None
    for _ in range(20):
        page = (
            await api("GET", f"{url}/plans", params={"limit": 1, **({"nextToken": token} if token else {})})
        ).json()
        assert len(page["plans"]) <= 1
        seen += [p["PlanId"] for p in page["plans"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert {"plan-with-id", generated_id, known["plan"]} <= set(seen)
    assert len(seen) == len(set(seen))


async def test_execution_is_written_pending_and_served_as_json_numbers(api_env: ApiEnv, url: str) -> None:
    plan = await create_test_plan_with_waves(url, num_waves=2, wave_order="SEQUENTIAL")
    response = await api(
        "POST", f"{url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
    )
    assert response.status_code == 202
    execution_id = response.json()["executionId"]
    assert response.headers["Location"] == f"/executions/{execution_id}"

    item = get_execution_from_dynamodb(api_env.dynamodb, api_env.tables.executions, execution_id)
    assert item["Status"] == "PENDING"
    assert item["WaveOrder"] == "SEQUENTIAL"
    assert [w["Status"] for w in item["Waves"]] == ["PENDING", "PENDING"]
    assert item["Waves"][1]["DependsOn"] == ["Wave-1"]
    assert [s["SourceServerId"] for s in item["Waves"][0]["Servers"]] == plan["Waves"][0]["SourceServerIds"]
    assert not any("RecoveryJobId" in s for w in item["Waves"] for s in w["Servers"])

    served = (await api("GET", f"{url}/executions/{execution_id}")).json()
    assert served["ExecutionId"] == execution_id
    assert served["Version"] == 0 and isinstance(served["Version"], int)
    assert isinstance(served["StartTime"], int | float) and served["StartTime"] == float(item["StartTime"])
    assert served["Waves"][0]["Servers"][0]["PollAttempts"] == 0


async def test_executions_are_listed_by_status_newest_first_page_by_page(
    url: str, known: dict[str, str]
) -> None:
    ids = []
    for _ in range(3):
        response = await api(
            "POST", f"{url}/executions", json={"PlanId": known["plan"], "ExecutionType": "DRILL"}
        )
        ids.append(response.json()["executionId"])
    listed: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(20):
        params = {"status": "PENDING", "limit": 2, **({"nextToken": token} if token else {})}
        page = (await api("GET", f"{url}/executions", params=params)).json()
        assert len(page["executions"]) <= 2
        listed += page["executions"]
        token = page.get("nextToken")
        if token is None:
            break
    listed_ids = [e["ExecutionId"] for e in listed]
    assert set(ids) <= set(listed_ids)
    assert len(listed_ids) == len(set(listed_ids))
    assert all(e["Status"] == "PENDING" for e in listed)
    starts = [e["StartTime"] for e in listed]
    assert starts == sorted(starts, reverse=True)
    assert (await api("GET", f"{url}/executions", params={"status": "POLLING"})).json() == {"executions": []}


async def test_idempotency_key_returns_the_same_execution_even_to_concurrent_retries(
    api_env: ApiEnv, url: str, known: dict[str, str]
) -> None:
    request = {
        "json": {"PlanId": known["plan"], "ExecutionType": "DRILL"},
        "headers": {"Idempotency-Key": "retry-me-1"},
    }
    responses = await asyncio.gather(*(api("POST", f"{url}/executions", **request) for _ in range(6)))
    assert [r.status_code for r in responses] == [202] * 6
    ids = {r.json()["executionId"] for r in responses}
    assert len(ids) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 5
    later = await api("POST", f"{url}/executions", **request)
    assert later.status_code == 202 and later.json()["executionId"] in ids
    items = [
        i
        for i in await asyncio.to_thread(scan_table, api_env.dynamodb, api_env.tables.executions)
        if i["ExecutionId"] in ids
    ]
    assert len(items) == 1
    other_key = await api(
        "POST", f"{url}/executions", json=request["json"], headers={"Idempotency-Key": "retry-me-2"}
    )
    assert other_key.json()["executionId"] not in ids


async def test_cancel_of_a_pending_execution(api_env: ApiEnv, url: str, known: dict[str, str]) -> None:
    response = await api(
        "POST", f"{url}/executions", json={"PlanId": known["plan"], "ExecutionType": "DRILL"}
    )
    execution_id = response.json()["executionId"]
    cancelled = await api("POST", f"{url}/executions/{execution_id}/cancel", json={})
    assert cancelled.status_code == 200, cancelled.text
    item = get_execution_from_dynamodb(api_env.dynamodb, api_env.tables.executions, execution_id)
    assert item["Status"] == "CANCELLED"
    assert [w["Status"] for w in item["Waves"]] == ["CANCELLED"]
    assert item["Version"] == 1


async def test_api_requires_the_bearer_token_when_one_is_configured(
    make_settings: Callable[..., Settings],
) -> None:
    async with daemon_running(make_settings(api_token="s3cret")) as running:
        body = plan_body()
        missing = await api("POST", f"{running.url}/plans", json=body)
        wrong = await api("POST", f"{running.url}/plans", json=body, headers={"Authorization": "Bearer nope"})
        right = await api(
            "POST", f"{running.url}/plans", json=body, headers={"Authorization": "Bearer s3cret"}
        )
        metrics = await api("GET", f"{running.url}/metrics")
    assert [missing.status_code, wrong.status_code, right.status_code] == [401, 401, 201]
    assert missing.json() == {"error": "missing or wrong bearer token", "field": "Authorization"}
    assert metrics.status_code == 200  # the scrape endpoint stays open
