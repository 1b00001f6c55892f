"""The container path run for real: the images built, the compose stack up, work through the API.

``make stack-test`` runs this module; ``make test`` never does (marker ``container``, deselected
by default: it needs a Docker engine and takes minutes). Without an engine it is skipped, saying
why. Steps, in order, each printing its progress:

1. build every image the compose file names (the poller's ``runtime`` target, drssim's target)
   and look inside: the production image holds the daemon only, runs as non-root;
2. bring the stack up on free published ports (Grafana only where its image can be had);
3. create a plan, start a DRILL and a RECOVERY with the API token, wait until both complete;
4. Prometheus sees the poller ``up``; every dashboard query is valid PromQL there, and returns
   data wherever the series it names have samples; every alert rule is loaded and healthy;
5. stop the poller: it exits 0 within its grace period; tear everything down.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from poller.config import Settings
from tests.container.stack_support import (
    BuiltImage,
    Engine,
    Stack,
    build_images,
    free_port,
    http,
    prometheus_query,
    run,
    say,
    wait_for,
)
from tests.stack.compose_support import (
    DASHBOARD_DIR,
    ROOT,
    alert_rules,
    dashboard_panels,
    dashboard_queries,
    promql_selectors,
    services,
)

pytestmark = [pytest.mark.container, pytest.mark.slow]

POLLER_IMAGE = "drs-poller:local"
DRSSIM_IMAGE = "drssim:local"
TERMINAL = {"COMPLETED", "PARTIAL", "FAILED", "TIMEOUT", "CANCELLED"}
ALNUM = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@pytest.fixture(scope="module")
def engine() -> Engine:
    found = Engine.find()
    if isinstance(found, str):
        pytest.skip(f"stack test skipped: {found}")
    say(f"Docker engine {found.server_version}, compose: {' '.join(found.compose)}")
    return found


@pytest.fixture(scope="module")
def images(engine: Engine) -> dict[str, BuiltImage]:
    built = build_images(engine)
    assert set(built) == {POLLER_IMAGE, DRSSIM_IMAGE}
    return built


def _grafana_available(engine: Engine) -> bool:
    image = services()["grafana"]["image"]
    if run(["docker", "image", "inspect", image], timeout=60, check=False).returncode == 0:
        return True
    pulled = run(["docker", "pull", image], timeout=300, check=False)
    if pulled.returncode == 0:
        return True
    say(f"grafana left out: {image} is not here and cannot be pulled ({(pulled.stderr or '').strip()[:120]})")
    return False


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, engine: Engine, images: dict[str, BuiltImage]) -> Iterator[Stack]:
    names = list(services())
    if not _grafana_available(engine):
        names.remove("grafana")
    published = [n for n in names if services()[n].get("ports")]
    running = Stack(
        engine, f"drs-poller-stacktest-{secrets.token_hex(3)}", f"stack-test-{secrets.token_hex(16)}"
    )
    running.ports = {name: free_port() for name in published}
    failed_before = request.session.testsfailed
    say(f"compose project {running.project}: up {' '.join(names)} on ports {running.ports}")
    try:
        started = time.monotonic()
        running.compose("up", "-d", "--no-build", *names, timeout=900)
        say(f"stack up in {time.monotonic() - started:.0f}s (moto healthy -> init-tables done -> poller)")
        yield running
    finally:
        if request.session.testsfailed != failed_before:
            logs = running.compose("logs", "--no-color", "--tail", "30", timeout=120, check=False)
            print(logs.stdout[-12000:], flush=True)
        say("tearing down (compose down -v)")
        running.compose("down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False)
        say("stack removed")


def _plan() -> dict[str, Any]:
    def ids(n: int) -> list[str]:
        return ["s-" + "".join(secrets.choice(ALNUM) for _ in range(17)) for _ in range(n)]

    return {
        "PlanName": "stack test: three waves, two regions",
        "WaveOrder": "PARALLEL",
        "Waves": [
            {"WaveName": "1-databases", "Region": "us-east-1", "SourceServerIds": ids(2)},
            {"WaveName": "2-application", "Region": "us-west-2", "SourceServerIds": ids(2)},
            {"WaveName": "3-web", "Region": "us-east-1", "SourceServerIds": ids(2)},
        ],
    }


def _progress(item: dict[str, Any]) -> str:
    waves = []
    for wave in item.get("Waves", []):
        counts: dict[str, int] = {}
        for server in wave.get("Servers", []):
            counts[server.get("Status", "?")] = counts.get(server.get("Status", "?"), 0) + 1
        servers = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        waves.append(f"{wave.get('WaveName')} {wave.get('Status')}: {servers}")
    return f"{item.get('Status')} | " + " | ".join(waves)


@pytest.fixture(scope="module")
def executions(stack: Stack) -> dict[str, dict[str, Any]]:
    """A DRILL and a RECOVERY of one plan, created through the API, followed until both are terminal."""
    ready = wait_for(
        "poller /readyz answers 200", lambda: http("GET", stack.url("poller", "/readyz"))[0] == 200, 180
    )
    assert ready
    say(f"poller ready at {stack.url('poller')}")
    status, body = http("GET", stack.url("poller", "/executions?status=POLLING"))
    assert status == 401, f"the API must refuse a request without the token: {status} {body}"
    status, body = http("POST", stack.url("poller", "/plans"), _plan(), stack.token)
    assert status in (200, 201), f"POST /plans: {status} {body}"
    plan_id = body["PlanId"]
    ids: dict[str, str] = {}
    for kind in ("DRILL", "RECOVERY"):
        status, body = http(
            "POST",
            stack.url("poller", "/executions"),
            {"PlanId": plan_id, "ExecutionType": kind},
            stack.token,
        )
        assert status == 202, f"POST /executions {kind}: {status} {body}"
        ids[kind] = body["executionId"]
    say(f"plan {plan_id}: DRILL {ids['DRILL']}, RECOVERY {ids['RECOVERY']} started (202)")
    seen: dict[str, str] = {}
    items: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline:
        for kind, execution_id in ids.items():
            status, item = http("GET", stack.url("poller", f"/executions/{execution_id}"), token=stack.token)
            assert status == 200, f"GET /executions/{execution_id}: {status} {item}"
            items[kind] = item
            line = _progress(item)
            if seen.get(kind) != line:
                seen[kind] = line
                say(f"  {kind:<8} {line}")
        if all(item.get("Status") in TERMINAL for item in items.values()):
            break
        time.sleep(2)
    unfinished = {
        kind: item.get("Status") for kind, item in items.items() if item.get("Status") not in TERMINAL
    }
    assert not unfinished, f"not terminal within 7 min: {unfinished}"
    return items


# ---- 1. images -----------------------------------------------------------------------------------
# Everything looked at inside an image, gathered by one container: each `docker run` copies the
# image's whole filesystem on some storage drivers, so one run instead of four.
_INSIDE = """
import importlib.util, json, os, subprocess, sys
pip = subprocess.run([sys.executable, "-m", "pip", "list", "--format", "json"], capture_output=True, text=True)
script = subprocess.run([sys.argv[1], "--help"], capture_output=True, text=True)
print(json.dumps({
    "uid": os.getuid(),
    "distributions": [d["name"] for d in json.loads(pip.stdout)],
    "modules": [m for m in ("drssim", "poller", "poller_devtools", "moto", "pytest") if importlib.util.find_spec(m)],
    "help": script.stdout + script.stderr,
}))
"""


def _inside(image: str, script: str) -> dict[str, Any]:
    out = run(["docker", "run", "--rm", "--entrypoint", "python", image, "-c", _INSIDE, script], timeout=900)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    found["distributions"] = {re.sub(r"[-_.]+", "-", name.lower()) for name in found["distributions"]}
    return found


def _dev_only_distributions() -> set[str]:
    """What must never reach the production image: the dev and bench extras, drssim, the dev tooling."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [*project["optional-dependencies"]["dev"], *project["optional-dependencies"]["bench"]]
    names = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower() for spec in extras}
    return {re.sub(r"[-_.]+", "-", n) for n in names} | {"drssim", "drs-poller-devtools"}


def test_production_image_holds_only_the_daemon(images: dict[str, BuiltImage]) -> None:
    inside = _inside(POLLER_IMAGE, "poller")
    installed = inside["distributions"]
    say(f"{POLLER_IMAGE} `pip list`: {len(installed)} distributions: {' '.join(sorted(installed))}")
    assert "drs-execution-poller" in installed
    leaked = installed & _dev_only_distributions()
    assert not leaked, f"development packages in the production image: {sorted(leaked)}"
    assert inside["modules"] == ["poller"], inside["modules"]
    usage = inside["help"]
    say(f"{POLLER_IMAGE} `poller --help`: {' '.join(usage.split())[:150]}")
    commands = set(re.search(r"\{([a-z,-]+)\}", usage).group(1).split(","))  # type: ignore[union-attr]
    assert commands == {"run", "init-tables", "report"}, usage
    assert inside["uid"] != 0, "the daemon must not run as root"
    say(f"{POLLER_IMAGE}: uid {inside['uid']}, {images[POLLER_IMAGE].size_bytes / 1e6:.0f} MB")


def test_drssim_image_is_the_simulator_alone(images: dict[str, BuiltImage]) -> None:
    inside = _inside(DRSSIM_IMAGE, "drssim")
    assert "drssim" in inside["distributions"], sorted(inside["distributions"])
    assert "drs-execution-poller" not in inside["distributions"]
    assert inside["modules"] == ["drssim"], inside["modules"]
    assert "serve" in inside["help"], inside["help"]
    assert inside["uid"] != 0
    sizes = ", ".join(f"{tag} {image.size_bytes / 1e6:.0f} MB" for tag, image in sorted(images.items()))
    say(f"{DRSSIM_IMAGE}: uid {inside['uid']}; image sizes: {sizes}")


# ---- 2-3. the stack runs a DRILL and a RECOVERY ----------------------------------------------------
def test_a_drill_and_a_recovery_complete_through_the_api(executions: dict[str, dict[str, Any]]) -> None:
    for kind, item in executions.items():
        assert item["ExecutionType"] == kind
        assert item["Status"] == "COMPLETED", f"{kind}: {_progress(item)} ({item.get('StatusReason')})"
        for wave in item["Waves"]:
            assert wave["Status"] == "COMPLETED", f"{kind} {wave['WaveName']}: {wave['Status']}"
            for server in wave["Servers"]:
                assert server["Status"] == "LAUNCHED", server
                assert re.fullmatch(r"i-[0-9a-f]{17}", str(server.get("InstanceId"))), server
        say(f"{kind} COMPLETED in {float(item['EndTime']) - float(item['StartTime']):.0f}s")


# ---- 4. Prometheus: scrape, dashboard queries, alert rules -----------------------------------------
def test_prometheus_scrapes_the_poller_and_runs_every_dashboard_query(
    stack: Stack, executions: dict[str, dict[str, Any]]
) -> None:
    up = wait_for(
        "Prometheus sees the poller up",
        lambda: [r for r in prometheus_query(stack, 'up{job="poller"}') if r["value"][1] == "1"],
        120,
        interval=2,
    )
    say(f'Prometheus: up{{job="poller"}} = 1 ({up[0]["metric"].get("instance")})')
    queries = dashboard_queries()
    assert queries

    def has_samples(expr: str) -> bool:
        return all(prometheus_query(stack, f"count({selector})") for selector in promql_selectors(expr))

    without_samples = [(title, expr) for _, title, expr in queries if not has_samples(expr)]
    expected = [(title, expr) for _, title, expr in queries if (title, expr) not in without_samples]
    # rate() and increase() need two scrapes after the first sample: wait for those, not longer.
    deadline = time.monotonic() + 120
    empty = expected
    while True:
        empty = [(title, expr) for title, expr in empty if not prometheus_query(stack, expr)]
        if not empty or time.monotonic() > deadline:
            break
        time.sleep(5)
    for _, expr in without_samples:
        prometheus_query(stack, expr)  # valid PromQL, though nothing to show yet
    say(
        f"dashboard: {len(queries)} queries valid on Prometheus; {len(expected) - len(empty)} returned data; "
        f"{len(without_samples)} name series without samples yet: "
        + "; ".join(sorted({title for title, _ in without_samples}))
    )
    assert not empty, f"queries whose series have samples returned nothing: {empty}"


def test_prometheus_loads_every_alert_rule_and_evaluates_it(stack: Stack) -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}

    def loaded() -> dict[str, dict[str, Any]]:
        status, body = http("GET", stack.url("prometheus", "/api/v1/rules"))
        assert status == 200, body
        found = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}
        evaluated = all(not str(r.get("lastEvaluation", "")).startswith("0001-") for r in found.values())
        return found if found and evaluated else {}

    found = wait_for("Prometheus evaluated the alert rules", loaded, 120, interval=3)
    assert set(found) == set(rules), f"Prometheus loaded {sorted(found)}, alerts.yml has {sorted(rules)}"
    for name, rule in found.items():
        assert rule["health"] == "ok", f"{name}: {rule.get('lastError')}"
        prometheus_query(stack, rules[name]["expr"])  # valid as an instant query too
    firing = sorted(name for name, rule in found.items() if rule.get("state") == "firing")
    say(f"alert rules: {len(found)} loaded, health ok, states: "
        + ", ".join(f"{n}={found[n].get('state')}" for n in sorted(found)))  # fmt: skip
    assert not firing, f"a healthy run fires no alert: {firing}"


def test_grafana_serves_the_provisioned_dashboard_when_it_runs(stack: Stack) -> None:
    if "grafana" not in stack.ports:
        pytest.skip(
            "grafana image not available here; its dashboard's queries were run on Prometheus instead"
        )
    wait_for("Grafana healthy", lambda: http("GET", stack.url("grafana", "/api/health"))[0] == 200, 180)
    status, body = http("GET", stack.url("grafana", "/api/dashboards/uid/drs-poller"))
    assert status == 200, body
    board = json.loads((DASHBOARD_DIR / "drs-poller.json").read_text())
    assert len(dashboard_panels(body["dashboard"])) == len(dashboard_panels(board))


# ---- 5. a clean stop -------------------------------------------------------------------------------
def test_poller_stops_with_exit_0_within_its_grace_period(
    stack: Stack, executions: dict[str, dict[str, Any]]
) -> None:
    poller = services()["poller"]
    grace = float(str(poller["stop_grace_period"]).removesuffix("s"))
    shutdown_grace = Settings.model_fields["shutdown_grace_seconds"].default
    cid = stack.container_id("poller")
    started = time.monotonic()
    stack.compose("stop", "poller", timeout=grace + 60)
    took = time.monotonic() - started
    state = json.loads(run(["docker", "inspect", "-f", "{{json .State}}", cid], timeout=60).stdout)
    say(f"poller stopped in {took:.1f}s: {state['Status']}, exit code {state['ExitCode']} "
        f"(daemon grace {shutdown_grace:g}s, compose stop_grace_period {grace:g}s)")  # fmt: skip
    assert state["Status"] == "exited" and not state["OOMKilled"]
    # Exit code 0 is the proof it finished within the grace period: after it, docker sends SIGKILL (137).
    assert state["ExitCode"] == 0, f"exit {state['ExitCode']} (137: killed after the grace period)"
    logs = run(["docker", "logs", "--tail", "20", cid], timeout=60)
    assert "daemon_stopped" in logs.stdout + logs.stderr, logs.stdout[-2000:] + logs.stderr[-2000:]
