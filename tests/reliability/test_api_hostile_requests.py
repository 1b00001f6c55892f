"""Hostile requests: every one is a JSON 4xx naming the input at
fault, answered without a traceback in the log and, where the input is a pagination token,
without a DynamoDB call.

Each test drives a daemon on 127.0.0.1 (moto, drssim) over a real socket.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY

from poller import metrics
from poller.api import ApiError
from poller.api.plans import validate_plan
from poller.store.dynamodb import serialize
from tests.conftest import Tables
from tests.integration.support import api, daemon_running, plan_body, source_server_id, wait_until
from tests.reliability.conftest import JsonLogs

pytestmark = [pytest.mark.integration]


@pytest_asyncio.fixture
async def url(make_settings: Any, json_logs: JsonLogs) -> AsyncIterator[str]:
    """A daemon whose log goes to ``json_logs`` (the fixture is set up first, so it sees it all)."""
    async with daemon_running(make_settings()) as running:
        yield running.url


def _no_traceback(logs: JsonLogs) -> None:
    text = logs.text()
    assert "Traceback" not in text, text[-3000:]


def _token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _queries() -> float:
    """DynamoDB Query and Scan calls so far, every outcome (prometheus-client's public API)."""
    return sum(
        sample.value
        for family in metrics.DYNAMODB_CALLS.collect()
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("operation") in ("Query", "Scan")
    )


# ---- finding 2: 500s for client mistakes ------------------------------------------------------
async def test_an_execution_type_of_the_wrong_json_type_is_a_400(url: str, json_logs: JsonLogs) -> None:
    plan = (await api("POST", f"{url}/plans", json=plan_body())).json()
    for wrong in (["DRILL"], {"DRILL": 1}, 1, None, True):
        response = await api(
            "POST", f"{url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": wrong}
        )
        assert response.status_code == 400, (wrong, response.text)
        assert response.json()["field"] == "ExecutionType"
    _no_traceback(json_logs)


@pytest.mark.parametrize("path", ["/plans", "/executions", "/executions/x/cancel"])
async def test_a_deeply_nested_body_is_a_400_before_it_is_parsed(
    url: str, json_logs: JsonLogs, path: str
) -> None:
    depth = 20_000  # at most 120 KB: under the body limit, far over the recursion limit
    for body in (b"[" * depth + b"]" * depth, b'{"PlanId": ' + b'{"a":' * depth + b"1" + b"}" * depth + b"}"):
        response = await api("POST", url + path, data=body, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "body"
        assert "nest" in response.json()["error"]
    _no_traceback(json_logs)


def test_a_region_that_is_no_aws_region_is_refused_at_plan_creation_even_when_configured() -> None:
    """POLLER_DRS_REGIONS is checked by the settings; the plan does not rely on it: an execution
    could never be built in a region that does not have the shape of one."""
    body = plan_body()
    body["Waves"][0]["Region"] = "not-a-region"
    with pytest.raises(ApiError) as refused:
        validate_plan(body, ["not-a-region"])
    assert (refused.value.status, refused.value.field) == (400, "Waves[0].Region")
    assert "not-a-region" in refused.value.message


async def test_a_stored_plan_that_cannot_become_an_execution_is_a_4xx_not_a_500(
    url: str, dynamodb: Any, tables: Tables, json_logs: JsonLogs
) -> None:
    """A plan item written by hand (or by an older version) that breaks the execution model."""
    broken = {
        "PlanId": "hand-written",
        "PlanName": "x",
        "WaveOrder": "PARALLEL",
        "Waves": [{"WaveName": "W", "Region": "us-east-1", "SourceServerIds": []}],
    }
    dynamodb.put_item(TableName=tables.plans, Item=serialize(broken))
    response = await api(
        "POST", f"{url}/executions", json={"PlanId": "hand-written", "ExecutionType": "DRILL"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "PlanId"
    _no_traceback(json_logs)


# ---- finding 3: ids ending in a newline -------------------------------------------------------
async def test_ids_must_match_whole_so_a_trailing_newline_is_refused(url: str, json_logs: JsonLogs) -> None:
    response = await api("POST", f"{url}/plans", json=plan_body(plan_id="x\n"))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "PlanId"
    body = plan_body()
    body["Waves"][0]["SourceServerIds"][0] = source_server_id() + "\n"
    response = await api("POST", f"{url}/plans", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "Waves[0].SourceServerIds[0]"
    response = await api("POST", f"{url}/executions", json={"PlanId": "x\n", "ExecutionType": "DRILL"})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "PlanId"
    for path in ("/plans/x%0A", "/executions/x%0A"):
        assert (await api("GET", url + path)).status_code == 404
    _no_traceback(json_logs)


# ---- finding 7: forged nextToken, over-long request lines and headers --------------------------
@pytest.mark.parametrize(
    ("path", "key"),
    [
        (
            "/executions?status=POLLING",
            {"ExecutionId": {"S": "x"}, "Status": {"S": "POLLING"}, "StartTime": {"S": "soon"}},
        ),
        ("/executions?status=POLLING", {"ExecutionId": {"N": "1"}, "Status": {"S": "POLLING"}}),
        (
            "/executions?status=POLLING",
            {
                "ExecutionId": {"S": "x"},
                "Status": {"S": "POLLING"},
                "StartTime": {"N": "1"},
                "Evil": {"S": "y"},
            },
        ),
        ("/plans?limit=5", {"PlanId": {"N": "1"}}),
        ("/plans?limit=5", {"PlanId": {"S": ""}}),
        ("/plans?limit=5", {"PlanId": {"S": "x"}, "Other": {"S": "y"}}),
    ],
)
async def test_a_forged_next_token_is_a_400_without_reaching_dynamodb(
    make_settings: Any, json_logs: JsonLogs, path: str, key: dict[str, Any]
) -> None:
    finder_passes = REGISTRY.get_sample_value("poller_finder_runs_total", {"outcome": "ok"}) or 0.0
    async with daemon_running(make_settings(finder_period_seconds=3600.0)) as running:
        # after its first pass the finder (and the launcher's tick) sleeps: every Query or Scan
        # from then on is the API's
        await wait_until(
            lambda: REGISTRY.get_sample_value("poller_finder_runs_total", {"outcome": "ok"}) or 0.0,
            lambda passes: passes > finder_passes,
            10.0,
            "the finder's first pass",
        )
        before = _queries()
        response = await api("GET", f"{running.url}{path}&nextToken={_token(key)}")
        assert _queries() == before
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "nextToken"
    _no_traceback(json_logs)


async def _raw_request(url: str, head: bytes) -> tuple[int, dict[str, str], bytes]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    header_block, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize(
    ("head", "field"),
    [
        (b"GET /plans?q=" + b"a" * 9_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "path"),
        (
            b"GET /plans HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9_000 + b"\r\nConnection: close\r\n\r\n",
            "X-Big",
        ),
    ],
    ids=["request-line", "header"],
)
async def test_an_over_long_request_line_or_header_is_a_json_4xx_and_one_log_line(
    url: str, json_logs: JsonLogs, head: bytes, field: str
) -> None:
    status, headers, body = await _raw_request(url, head)
    assert 400 <= status < 500
    assert headers["content-type"].startswith("application/json"), (headers, body[:200])
    answer = json.loads(body)
    assert answer["field"] == field and "too long" in answer["error"]
    _no_traceback(json_logs)
    assert len(json_logs.events("http_request_refused")) == 1


async def test_a_request_beyond_the_http_parser_limit_is_a_4xx_and_one_log_line(
    url: str, json_logs: JsonLogs
) -> None:
    """Past aiohttp's own parser limit the parser answers (a plain-text 400: it has no hook for
    the body), but the log still gets one structured line, not a traceback."""
    head = b"GET /plans?q=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    status, _, _ = await _raw_request(url, head)
    assert status == 400
    _no_traceback(json_logs)
    assert len(json_logs.events("http_request_refused")) == 1
