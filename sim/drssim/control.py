"""The ``/_sim/`` control API (JSON): drive timelines, inject faults, read ground truth.

Kept separate from the DRS front door so the wire-compatible surface stays small and the
control surface can evolve with the poller's test plan. See docs/drssim.md for examples.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from drssim.accounts import ACCOUNT_RE
from drssim.faults import ErrorRule, LatencyRule, ThrottleRule
from drssim.quotas import Quotas
from drssim.state import ACCOUNT_ID, DEFAULT_REGION, ControlError, Simulator
from drssim.truth import truth

Route = Callable[[Simulator, dict[str, Any], web.Request], Any]


def _ids(body: dict[str, Any], key: str = "jobIDs") -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ControlError(f"{key} must be a list of strings")
    return value


def _ops(body: dict[str, Any], key: str) -> frozenset[str] | None:
    value = body.get(key)
    return None if value is None else frozenset(value)


def _account(body: dict[str, Any]) -> str:
    value = body.get("account", ACCOUNT_ID)
    if not isinstance(value, str) or not ACCOUNT_RE.fullmatch(value):
        raise ControlError("account must be a 12-digit AWS account ID")
    return value


def _num(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f"{key} must be a number")
    return float(value)


# ---- handlers (sync; return JSON-able) -------------------------------------------------------
def health(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {"ok": True, "simTime": sim.clock.now(), "timeScale": sim.clock.time_scale, "manual": sim.manual}


def reset(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    sim.reset()
    return {"ok": True}


def get_config(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {
        "strictSourceServers": sim.strict_source_servers,
        "timeScale": sim.clock.time_scale,
        "seed": sim.seed,
        "manual": sim.manual,
        "quotas": sim.quotas.to_json(),
    }


def set_config(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    if "strictSourceServers" in body:
        sim.strict_source_servers = bool(body["strictSourceServers"])
    if "timeScale" in body:
        scale = _num(body, "timeScale", 1.0)
        if scale < 0:
            raise ControlError("timeScale must be >= 0")
        sim.clock.set_time_scale(scale)
    if "quotas" in body:
        quotas = body["quotas"]
        if not isinstance(quotas, dict):
            raise ControlError("quotas must be an object")
        try:
            sim.quotas = Quotas.from_json(quotas)
        except ValueError as err:
            raise ControlError(str(err)) from None
    return get_config(sim, body, req)


def get_clock(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {
        "simTime": sim.clock.now(),
        "timeScale": sim.clock.time_scale,
        "epochWall": sim.clock.epoch_wall,
        "wall": sim.clock.wall(),
    }


def advance_clock(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    seconds = _num(body, "seconds", 0.0)
    if seconds < 0:
        raise ControlError("seconds must be >= 0")
    return {"simTime": sim.clock.advance(seconds)}


def set_mode(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    mode = body.get("mode")
    if mode not in ("manual", "auto"):
        raise ControlError("mode must be 'manual' or 'auto'")
    sim.set_manual(mode == "manual")
    return {"mode": mode}


def source_servers(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    count = int(_num(body, "count", 0))
    ids = _ids(body, "sourceServerIDs")
    region = str(body.get("region") or DEFAULT_REGION)
    account = _account(body)
    created = sim.create_source_servers(
        region, count, ids, str(body.get("hostnamePrefix") or "host"), account
    )
    return {"account": account, "region": region, "sourceServerIDs": created}


def get_truth(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    q = req.query
    ids = q.get("jobIDs")
    return {"jobs": truth(sim, q.get("region"), ids.split(",") if ids else None, q.get("account"))}


def get_calls(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    recs = sim.calls.query(req.query.get("operation"), req.query.get("region"))
    return {"calls": [r.to_json() for r in recs]}


def clear_calls(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    sim.calls.clear()
    return {"ok": True}


def advance_jobs(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {"jobIDs": sim.advance_phase(str(body.get("phase")), _ids(body))}


def hold_jobs(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {"jobIDs": sim.hold(_ids(body), True)}


def release_jobs(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return {"jobIDs": sim.hold(_ids(body), False)}


def fail_server(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    job_id, sid = body.get("jobID"), body.get("sourceServerID")
    if not isinstance(job_id, str) or not isinstance(sid, str):
        raise ControlError("jobID and sourceServerID are required")
    sim.fail_server(job_id, sid, str(body.get("reason") or "Launch failed (injected by drssim)"))
    return {"ok": True}


def post_launch(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    reason = body.get("reason")
    return {"jobIDs": sim.finish_post_launch(str(body.get("status")), _ids(body), reason)}


def bulk_jobs(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    region = str(body.get("region") or DEFAULT_REGION)
    count = int(_num(body, "count", 1))
    per_job = int(_num(body, "serversPerJob", 1))
    if not 0 < count <= 100_000 or not 0 < per_job <= 200:
        raise ControlError("count must be 1..100000 and serversPerJob 1..200")
    return {"jobIDs": sim.bulk_jobs(region, count, per_job, bool(body.get("isDrill", True)), _account(body))}


def get_faults(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    return sim.faults.to_json()


def clear_faults(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    sim.faults.clear()
    return sim.faults.to_json()


def _rule_args(body: dict[str, Any]) -> dict[str, Any]:
    count, rate = int(_num(body, "count", 0)), _num(body, "rate", 0.0)
    if count < 0 or not 0.0 <= rate <= 1.0:
        raise ControlError("count must be >= 0 and rate within [0, 1]")
    if count == 0 and rate == 0.0:
        raise ControlError("give count > 0 or rate > 0")
    return {
        "count": count,
        "rate": rate,
        "operations": _ops(body, "operations"),
        "regions": _ops(body, "regions"),
    }


def add_throttling(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    after = int(_num(body, "retryAfterSeconds", 1))
    sim.faults.throttles.append(ThrottleRule(**_rule_args(body), retry_after_seconds=after))
    return sim.faults.to_json()


def add_errors(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    status = int(_num(body, "status", 500))
    if not 500 <= status <= 599:
        raise ControlError("status must be 5xx")
    sim.faults.errors.append(ErrorRule(**_rule_args(body), status=status))
    return sim.faults.to_json()


def add_latency(sim: Simulator, body: dict[str, Any], req: web.Request) -> Any:
    ms = _num(body, "ms", 0.0)
    if ms < 0:
        raise ControlError("ms must be >= 0")
    sim.faults.latency.append(LatencyRule(ms, _ops(body, "operations")))
    return sim.faults.to_json()


ROUTES: list[tuple[str, str, Route]] = [
    ("GET", "/_sim/health", health),
    ("POST", "/_sim/reset", reset),
    ("GET", "/_sim/config", get_config),
    ("POST", "/_sim/config", set_config),
    ("GET", "/_sim/clock", get_clock),
    ("POST", "/_sim/clock/advance", advance_clock),
    ("POST", "/_sim/mode", set_mode),
    ("POST", "/_sim/source-servers", source_servers),
    ("GET", "/_sim/truth", get_truth),
    ("GET", "/_sim/calls", get_calls),
    ("DELETE", "/_sim/calls", clear_calls),
    ("POST", "/_sim/jobs/advance", advance_jobs),
    ("POST", "/_sim/jobs/hold", hold_jobs),
    ("POST", "/_sim/jobs/release", release_jobs),
    ("POST", "/_sim/jobs/fail-server", fail_server),
    ("POST", "/_sim/jobs/post-launch", post_launch),
    ("POST", "/_sim/jobs/bulk", bulk_jobs),
    ("GET", "/_sim/faults", get_faults),
    ("DELETE", "/_sim/faults", clear_faults),
    ("POST", "/_sim/faults/throttling", add_throttling),
    ("POST", "/_sim/faults/errors", add_errors),
    ("POST", "/_sim/faults/latency", add_latency),
]


def _wrap(fn: Route, key: web.AppKey[Simulator]) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        try:
            return web.json_response(fn(request.app[key], body, request))
        except ControlError as err:
            return web.json_response({"error": err.message}, status=err.status)

    return handler


def add_control_routes(app: web.Application, key: web.AppKey[Simulator]) -> None:
    """Register every control endpoint on ``app``."""
    for method, path, fn in ROUTES:
        app.router.add_route(method, path, _wrap(fn, key))
