"""API fuzz: hypothesis over the request schemas against a ``poller run`` process (moto, drssim).

Every field of every request is drawn as a valid value or as something hostile: any JSON value,
text with newlines, NUL, '#', non-ASCII, over-long strings, deep nesting, raw bytes, forged page
tokens, odd headers. Whatever arrives, the answer is below 500 and JSON, and the process's
stderr (its whole log, as production would ship it) holds JSON lines only, no traceback.

The examples are bounded and derandomized (the same few hundred requests on every run, in
seconds); a new finding reproduces with the same seed.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
import requests
from drssim.testing import RunningSimulator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from poller_devtools.local import free_port

from poller.domain.statuses import ExecutionStatus
from tests.conftest import Tables
from tests.integration.support import daemon_process_env, plan_body, source_server_id

pytestmark = [pytest.mark.integration]

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
REGIONS = ("us-east-1", "us-west-2")

# ---- values ------------------------------------------------------------------------------------
HOSTILE_TEXT = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            " ",
            "x\n",
            "\x00",
            "#",
            "replica#x",
            "é",
            "a" * 300,
            "s-" + "0" * 17 + "\n",
            "us-east-1\n",
            "../plans",
            "%00",
            "DRILL ",
            "drill",
            "1e999",
            "-1",
        ]
    ),
)
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=12,
)


def either(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: valid half of the time, else hostile text or any JSON value."""
    return st.one_of(valid, valid, HOSTILE_TEXT, ANY_JSON)


def with_extra(body: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Sometimes an unknown field too."""
    return st.tuples(body, st.dictionaries(HOSTILE_TEXT, ANY_JSON, max_size=1)).map(
        lambda p: {**p[1], **p[0]}
    )


SERVER_IDS = st.lists(st.builds(source_server_id), min_size=1, max_size=3)
WAVE = with_extra(
    st.fixed_dictionaries(
        {
            "Region": either(st.sampled_from([*REGIONS, "eu-west-1", "not-a-region"])),
            "SourceServerIds": either(SERVER_IDS),
        },
        optional={
            "WaveName": either(st.sampled_from(["Wave-1", "Wave-2", "db"])),
            "DependsOn": either(st.sampled_from(["Wave-1", ["Wave-1"], []])),
        },
    )
)
PLAN = with_extra(
    st.fixed_dictionaries(
        {"Waves": either(st.lists(WAVE, min_size=1, max_size=3))},
        optional={
            "PlanId": either(st.uuids().map(str)),
            "PlanName": either(st.just("fuzz plan")),
            "WaveOrder": either(st.sampled_from(["PARALLEL", "SEQUENTIAL"])),
            "Description": either(st.just("a plan")),
        },
    )
)
STATUS = either(st.sampled_from([s.value for s in ExecutionStatus]))
LIMIT = either(st.integers(-5, 150).map(str))
KEY = st.fixed_dictionaries(
    {"ExecutionId": either(st.just({"S": "e"})), "Status": either(st.just({"S": "POLLING"}))},
    optional={"StartTime": either(st.just({"N": "1700000000.5"})), "PlanId": either(st.just({"S": "p"}))},
)


def _b64(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode()


TOKEN = st.one_of(
    KEY.map(lambda k: _b64(json.dumps(k).encode())),
    ANY_JSON.map(lambda v: _b64(json.dumps(v).encode())),
    st.integers(1, 3000).map(lambda n: _b64(b"[" * n)),
    st.binary(max_size=40).map(_b64),
    HOSTILE_TEXT,
)
PATH_ID = st.one_of(HOSTILE_TEXT, st.uuids().map(str)).map(lambda s: quote(s, safe=""))
RAW_BODY = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 30_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 30_000).map(lambda n: b'{"PlanId":' * n),
    st.just(b'"' + b'\\"' * 20_000),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Idempotency-Key": HOSTILE_TEXT.filter(lambda s: s.isascii() and s.isprintable() and s == s.strip()),
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "br", "identity", "zstd", "x"]),
        "Content-Type": st.sampled_from(["application/json", "text/plain", "multipart/form-data"]),
    },
)


# ---- requests ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    method: str
    path: str
    json: Any = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _query(**params: Any) -> str:
    given = {k: v for k, v in params.items() if v is not None}
    return "&".join(
        f"{k}={quote(v if isinstance(v, str) else json.dumps(v), safe='')}" for k, v in given.items()
    )


CALLS = st.one_of(
    st.sampled_from([Call("GET", "/plans?limit=5"), Call("GET", "/executions?status=PENDING&limit=5")]),
    st.builds(lambda b, h: Call("POST", "/plans", json=b, headers=h), PLAN, HEADERS),
    st.builds(
        lambda p, t, h: Call("POST", "/executions", json={"PlanId": p, "ExecutionType": t}, headers=h),
        either(st.just("fuzz-known-plan")),
        either(st.sampled_from(["DRILL", "RECOVERY"])),
        HEADERS,
    ),
    st.builds(
        lambda i, b: Call("POST", f"/executions/{i}/cancel", json=b),
        PATH_ID,
        with_extra(st.fixed_dictionaries({}, optional={"terminateRecoveryInstances": either(st.booleans())})),
    ),
    st.builds(
        lambda s, n, t: Call("GET", "/executions?" + _query(status=s, limit=n, nextToken=t)),
        st.none() | STATUS,
        st.none() | LIMIT,
        st.none() | TOKEN,
    ),
    st.builds(
        lambda n, t: Call("GET", "/plans?" + _query(limit=n, nextToken=t)),
        st.none() | LIMIT,
        st.none() | TOKEN,
    ),
    st.builds(lambda i: Call("GET", f"/plans/{i}"), PATH_ID),
    st.builds(lambda i: Call("GET", f"/executions/{i}"), PATH_ID),
    st.builds(
        lambda p, b, h: Call("POST", p, data=b, headers=h),
        st.sampled_from(["/plans", "/executions", "/executions/x/cancel"]),
        RAW_BODY,
        HEADERS,
    ),
)


@dataclass
class Daemon:
    url: str
    process: subprocess.Popen[str]


@pytest.fixture
def daemon(moto_url: str, sim: RunningSimulator, tables: Tables) -> Iterator[Daemon]:
    port = free_port()
    env = daemon_process_env(
        moto_url,
        sim.endpoint_url,
        tables.executions,
        tables.plans,
        http_port=port,
        drs_regions=",".join(REGIONS),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "poller", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "the daemon did not start"
                time.sleep(0.1)
        yield Daemon(url, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_no_request_drawn_from_the_schemas_gets_a_5xx_or_a_traceback(daemon: Daemon) -> None:
    http = requests.Session()
    known = http.post(
        f"{daemon.url}/plans", json=plan_body(plan_id="fuzz-known-plan", regions=REGIONS), timeout=10
    )
    assert known.status_code == 201, known.text
    answered: list[int] = []

    @FUZZ
    @given(call=CALLS)
    def one_request(call: Call) -> None:
        # json.dumps, not requests' json=: NaN and Infinity go out as JavaScript writes them
        body = call.data if call.json is None else json.dumps(call.json).encode()
        headers = {"Content-Type": "application/json", **call.headers}
        response = http.request(call.method, daemon.url + call.path, data=body, headers=headers, timeout=10)
        answered.append(response.status_code)
        assert response.status_code < 500, (call, response.status_code, response.text[:500])
        assert response.headers.get("Content-Type", "").startswith("application/json"), (
            call,
            response.text[:200],
        )
        if response.status_code >= 400:
            assert response.json()["error"], call

    one_request()
    daemon.process.send_signal(signal.SIGTERM)
    _, stderr = daemon.process.communicate(timeout=30)
    assert daemon.process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    events = [json.loads(line) for line in stderr.splitlines() if line.strip()]  # JSON lines only
    assert not [e for e in events if e.get("level") in ("error", "critical")], stderr[-3000:]
    statuses = set(answered)
    assert {200, 201, 202, 400, 404} <= statuses, statuses  # the draw reached past validation too
