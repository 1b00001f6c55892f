"""aiohttp application: the DRS rest-json front door plus the ``/_sim/`` control API.

The front door mimics how DRS answers the unmodified botocore client: ``POST /Operation``,
region from the SigV4 credential scope, AWS-shaped JSON errors with ``x-amzn-ErrorType``.
Any unexpected exception becomes a 500 InternalServerException (which botocore retries)
rather than an aiohttp HTML page the client cannot parse.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from drssim import validation
from drssim.accounts import AccountLookupError
from drssim.control import add_control_routes
from drssim.launch_events import EventOptions, LaunchEventEmitter
from drssim.operations import OPERATIONS
from drssim.state import DEFAULT_REGION, DrsError, Simulator

SIM_KEY = web.AppKey("simulator", Simulator)
EMITTER_KEY = web.AppKey("launch_events", LaunchEventEmitter)
log = logging.getLogger("drssim")
_CRED_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/[a-z0-9-]+/aws4_request")


def region_from_auth(header: str | None) -> str:
    """Region from the SigV4 credential scope (``Credential=AKID/date/REGION/drs/...``)."""
    if header:
        m = _CRED_RE.search(header)
        if m:
            return m.group(1)
    return DEFAULT_REGION


def error_response(err: DrsError) -> web.Response:
    """AWS rest-json error: botocore reads the code from ``x-amzn-ErrorType``."""
    body = {"message": err.message, **err.fields}
    headers = {"x-amzn-ErrorType": err.code, "x-amzn-RequestId": str(uuid.uuid4()), **err.headers}
    return web.json_response(body, status=err.status, headers=headers)


def _count_job_ids(operation: str, body: Any) -> int:
    if not isinstance(body, dict):
        return 0
    if operation == "DescribeJobs":
        ids = (body.get("filters") or {}).get("jobIDs") if isinstance(body.get("filters"), dict) else None
        return len(ids) if isinstance(ids, list) else 0
    return 1 if operation == "DescribeJobLogItems" and body.get("jobID") else 0


def _parse_body(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


async def _dispatch(sim: Simulator, operation: str, region: str, body: Any, account: str) -> web.Response:
    op = validation.operation(operation)
    handler = OPERATIONS.get(operation)
    if op is None or handler is None:
        raise DrsError("UnknownOperationException", f"Unknown operation {operation}", 404)
    decision = sim.faults.decide(operation, region)
    if decision.delay_s:
        await asyncio.sleep(decision.delay_s)
    if decision.throttle is not None:
        after = str(decision.throttle.retry_after_seconds)
        raise DrsError(
            "ThrottlingException",
            "Rate exceeded",
            429,
            {"retryAfterSeconds": after, "serviceCode": "drs"},
            {"Retry-After": after},
        )
    if decision.error is not None:
        code = "InternalServerException" if decision.error.status == 500 else "ServiceUnavailableException"
        raise DrsError(code, "Injected server error", decision.error.status)
    if not isinstance(body, dict):
        raise DrsError("ValidationException", "Could not parse request body", 400, {"reason": "cannotParse"})
    errors = validation.validate(op.input_shape, body)
    if errors:
        fields = [{"name": e.name, "message": e.message} for e in errors]
        message = "; ".join(f"{e.name} {e.message}" for e in errors[:5])
        raise DrsError(
            "ValidationException", message, 400, {"reason": "fieldValidationFailed", "fieldList": fields}
        )
    result = handler(sim, region, body, account)
    status = int(op.http.get("responseCode", 200))
    return web.json_response(result, status=status, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def drs_handler(request: web.Request) -> web.Response:
    """Every DRS operation: faults, validation, dispatch, call log."""
    sim = request.app[SIM_KEY]
    operation = request.match_info["operation"]
    region = region_from_auth(request.headers.get("Authorization"))
    wall, t0 = time.time(), time.perf_counter()
    body = _parse_body(await request.read())
    account: str | None = None
    try:
        account = await _account(sim, request)
        resp = await _dispatch(sim, operation, region, body, account)
        outcome = "OK"
    except DrsError as err:
        resp, outcome = error_response(err), err.code
    except Exception:  # never let the client see a non-AWS 500
        log.exception("drssim: unexpected error in %s", operation)
        resp = error_response(DrsError("InternalServerException", "Internal error in drssim", 500))
        outcome = "InternalServerException"
    ms = (time.perf_counter() - t0) * 1000
    sim.calls.add(operation, region, wall, _count_job_ids(operation, body), outcome, resp.status, ms, account)
    return resp


async def _account(sim: Simulator, request: web.Request) -> str:
    """The caller's account, from its credentials (drssim.accounts); unknown ones as AWS refuses them."""
    try:
        return await sim.accounts.of(
            request.headers.get("Authorization"), request.headers.get("X-Amz-Security-Token")
        )
    except AccountLookupError as err:
        log.warning("drssim: %s", err)
        raise DrsError(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 403
        ) from err


def build_app(sim: Simulator, events: EventOptions | None = None) -> web.Application:
    """The aiohttp application serving ``sim`` (control routes first: they are more specific).

    With ``events``, launch results are sent to that EventBridge endpoint while the app runs.
    """
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[SIM_KEY] = sim
    if events is not None:
        app[EMITTER_KEY] = LaunchEventEmitter(sim, events)
        app.cleanup_ctx.append(_emit_launch_events)
    add_control_routes(app, SIM_KEY)
    app.router.add_get("/_sim/events", launch_events_sent)
    app.router.add_post("/{operation}", drs_handler)
    return app


async def launch_events_sent(request: web.Request) -> web.Response:
    """``GET /_sim/events``: what the launch-result emitter sent, dropped and duplicated, and the
    wall time each sent entry's PutEvents returned (404 when events are off)."""
    emitter = request.app.get(EMITTER_KEY)
    if emitter is None:
        return web.json_response(
            {"message": "launch-result events are off (--events-endpoint-url)"}, status=404
        )
    return web.json_response(emitter.report())


async def _emit_launch_events(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[EMITTER_KEY].run())
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
