"""API security: bearer token (constant-time), open health and metrics, bounded and validated
bodies, and no secret in the log output of a full run."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
from drssim.testing import RunningSimulator

from poller.config import Settings
from tests.conftest import Tables, start_daemon
from tests.integration.support import plan_body
from tests.reliability.conftest import JsonLogs

pytestmark = [pytest.mark.integration]

TOKEN = "tok-" + uuid.uuid4().hex  # distinctive, so a scan can find it anywhere


async def _call(
    method: str, url: str, token: str | None = TOKEN, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http, http.request(method, url, headers=headers, **kwargs) as r:
        text = await r.text()
        body = await r.json(content_type=None) if r.content_type == "application/json" else text
        return r.status, dict(r.headers), body


async def test_api_requires_the_bearer_token_while_health_and_metrics_stay_open(make_settings: Any) -> None:
    running = await start_daemon(make_settings(api_token=TOKEN))
    try:
        url = running.url
        for token, header in [
            (None, None),
            ("wrong", None),
            (TOKEN[:-1], None),
            (None, f"Basic {TOKEN}"),
            (None, TOKEN),
            (None, f"Bearer {TOKEN}x"),
        ]:
            headers = {"Authorization": header} if header else {}
            for method, path in [("GET", "/plans"), ("POST", "/executions"), ("GET", "/executions/x")]:
                status, got_headers, body = await _call(method, url + path, token=token, headers=headers)
                assert status == 401, (token, header, method, path)
                assert body == {"error": "missing or wrong bearer token", "field": "Authorization"}
                assert got_headers["WWW-Authenticate"].startswith("Bearer")
        assert (await _call("GET", f"{url}/plans"))[0] == 200
        assert (
            await _call("GET", f"{url}/plans", headers={"Authorization": f"bearer  {TOKEN} "}, token=None)
        )[0] == 200  # scheme is case-insensitive, surrounding spaces are not part of the token
        for path in ("/healthz", "/readyz", "/metrics"):  # open: no token needed (probes, Prometheus)
            status, _, _ = await _call("GET", url + path, token=None)
            assert status != 401, path
        assert (await _call("GET", f"{url}/metrics", token=None))[0] == 200
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=15)


def test_a_non_loopback_listener_without_a_token_is_refused(make_settings: Any) -> None:
    with pytest.raises(ValueError, match="POLLER_API_TOKEN"):
        make_settings(http_host="0.0.0.0")
    assert isinstance(make_settings(http_host="0.0.0.0", api_token=TOKEN), Settings)


async def test_oversized_and_invalid_bodies_are_refused_with_json_errors(make_settings: Any) -> None:
    running = await start_daemon(make_settings(api_token=TOKEN))
    try:
        url = running.url
        big = b'{"PlanName": "' + b"x" * (300 * 1024) + b'"}'
        status, _, body = await _call(
            "POST", f"{url}/plans", data=big, headers={"Content-Type": "application/json"}
        )
        assert status == 413 and "too large" in body["error"]
        cases: list[tuple[str, Any, str]] = [
            ("/plans", b"{not json", "body"),
            ("/plans", b"[1, 2]", "body"),
            ("/plans", {"Waves": [], "Extra": 1}, "Extra"),
            ("/plans", {"Waves": "wave"}, "Waves"),
            (
                "/plans",
                {"Waves": [{"Region": "us-east-1", "SourceServerIds": [7]}]},
                "Waves[0].SourceServerIds[0]",
            ),
            ("/executions", {"PlanId": 5, "ExecutionType": "DRILL"}, "PlanId"),
            ("/executions", {"PlanId": "p", "ExecutionType": "CHAOS"}, "ExecutionType"),
            ("/executions/x/cancel", {"terminateRecoveryInstances": "yes"}, "terminateRecoveryInstances"),
        ]
        for path, payload, field in cases:
            kwargs: dict[str, Any] = {"data": payload} if isinstance(payload, bytes) else {"json": payload}
            status, _, body = await _call("POST", url + path, **kwargs)
            assert status == 400, (path, payload, body)
            assert body["field"] == field and body["error"], (path, payload, body)
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=15)


async def test_no_token_secret_key_or_authorization_header_appears_in_the_logs_of_a_full_run(
    monkeypatch: pytest.MonkeyPatch,
    tables: Tables,
    sim: RunningSimulator,
    make_settings: Any,
    json_logs: JsonLogs,
) -> None:
    secret = "sk-" + uuid.uuid4().hex
    session_token = "st-" + uuid.uuid4().hex
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_SESSION_TOKEN", session_token)
    sim.control.set_time_scale(300.0)
    running = await start_daemon(make_settings(api_token=TOKEN))
    try:
        url = running.url
        status, _, plan = await _call("POST", f"{url}/plans", json=plan_body(2, 2))
        assert status == 201, plan
        ids = []
        for _ in range(2):
            status, _, created = await _call(
                "POST", f"{url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
            )
            assert status == 202, created
            ids.append(created["executionId"])
        await _call("GET", f"{url}/plans", token="wrong-" + TOKEN)  # a refused request is logged too
        await _call("GET", f"{url}/executions?status=POLLING&nextToken={TOKEN}")  # a bad token in a query
        for _ in range(400):  # the first execution finishes through launcher, tracker, DRS
            _, _, item = await _call("GET", f"{url}/executions/{ids[0]}")
            if item["Status"] in ("COMPLETED", "PARTIAL", "FAILED"):
                break
            await asyncio.sleep(0.1)
        assert item["Status"] == "COMPLETED", item
        _, _, fresh = await _call(
            "POST", f"{url}/executions", json={"PlanId": plan["PlanId"], "ExecutionType": "DRILL"}
        )
        status, _, cancelled = await _call(
            "POST",
            f"{url}/executions/{fresh['executionId']}/cancel",
            json={"terminateRecoveryInstances": True},
        )
        assert status == 200, cancelled
        await _call("GET", f"{url}/metrics", token=None)
    finally:
        running.stop.set()
        await asyncio.wait_for(running.task, timeout=15)
    text = json_logs.text()
    assert json_logs.events("execution_finished") and json_logs.events("execution_cancelled"), (
        "not a full run"
    )
    for name, value in [
        ("API token", TOKEN),
        ("AWS secret key", secret),
        ("AWS session token", session_token),
    ]:
        assert value not in text, f"the {name} appears in the log output"
    assert "authorization" not in text.lower(), "an Authorization header appears in the log output"
    assert "bearer" not in text.lower()
