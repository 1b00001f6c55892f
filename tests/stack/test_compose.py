"""The container path, checked without a Docker engine: every name in the stack files must exist.

Compose, the Dockerfile, Prometheus and Grafana files refer to console scripts, CLI flags,
settings, ports and metric names that live in Python code; these tests fail when either side
is renamed without the other.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from drssim.cli import build_parser as drssim_parser

from poller.cli import build_parser as poller_parser
from poller.config import Settings, load_settings
from poller.metrics import THROTTLING_OUTCOMES
from tests.conftest import RunningDaemon, start_daemon
from tests.stack.compose_support import (
    ALERTS_FILE,
    COMPOSE_FILE,
    DASHBOARD_DIR,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    GRAFANA_PROVISIONING,
    PROMETHEUS_FILE,
    PROMETHEUS_SERIES,
    ROOT,
    Instruction,
    alert_rules,
    dashboard_panels,
    dashboard_queries,
    dockerfile_instructions,
    environment,
    exec_form,
    exposed_series,
    installed_scripts,
    load_compose,
    port_mappings,
    project_scripts,
    promql_metric_names,
    promql_selectors,
    services,
    sim_scripts,
)

# The documented local URLs (docs/local-stack.md): service -> published port.
DOCUMENTED_PORTS = {"grafana": 3000, "prometheus": 9090, "poller": 8080, "drssim": 8081, "moto": 5000}
SETTINGS_FIELDS = {f"POLLER_{name.upper()}" for name in Settings.model_fields}


def _stage(target: str | None = None) -> list[Instruction]:
    """The instructions of one build stage: ``target`` by its ``AS`` name, else the last (docker's default)."""
    instructions = dockerfile_instructions()
    stages = {i.args.split()[-1]: i.stage for i in instructions if i.keyword == "FROM" and " AS " in i.args}
    stage = stages[target] if target else instructions[-1].stage
    return [i for i in instructions if i.stage == stage]


def _dockerfile_entrypoint(target: str | None = None) -> list[str]:
    return exec_form([i for i in _stage(target) if i.keyword == "ENTRYPOINT"][-1].args)


def _argv(service: dict[str, Any]) -> list[str]:
    """What the container runs: compose entrypoint/command over the image's, for our image."""
    entrypoint = service.get("entrypoint")
    command = service.get("command")
    if "build" in service:
        target = service["build"].get("target")
        entrypoint = entrypoint if entrypoint is not None else _dockerfile_entrypoint(target)
        if command is None and service.get("entrypoint") is None:
            command = exec_form([i for i in _stage(target) if i.keyword == "CMD"][-1].args)
    return [*(entrypoint or []), *(command or [])]


def _listen_port(name: str, service: dict[str, Any]) -> int | None:
    """The port the process inside listens on, read from its own arguments or settings."""
    argv = _argv(service)
    if argv[:1] == ["drssim"]:
        return int(drssim_parser().parse_args(argv[1:]).port)
    if argv[:1] == ["moto_server"]:
        return int(argv[argv.index("-p") + 1])
    if argv[:2] == ["poller", "run"]:
        return _settings_of(service).http_port
    return {"prometheus": 9090, "grafana": 3000}.get(name)


def _settings_of(service: dict[str, Any]) -> Settings:
    env = {k: v for k, v in environment(service).items() if k.startswith("POLLER_")}
    with pytest.MonkeyPatch.context() as mp:
        for key in [k for k in __import__("os").environ if k.startswith("POLLER_")]:
            mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        return Settings(_env_file=None)


# ---- compose --------------------------------------------------------------------------------------
def test_compose_has_the_whole_stack() -> None:
    assert set(services()) >= {"moto", "drssim", "init-tables", "poller", "prometheus", "grafana"}


def test_compose_file_is_valid_for_docker_compose_v1_too() -> None:
    """docker-compose 1.29 rejects v2-only top-level keys ("'name' does not match any of the regexes")."""
    top = {key for key in load_compose() if not key.startswith("x-")}
    unknown = top - {"version", "services", "networks", "volumes", "configs", "secrets"}
    assert not unknown, f"top-level keys docker-compose v1 rejects: {sorted(unknown)}"


@pytest.mark.parametrize("command", [["docker-compose"], ["docker", "compose"]], ids=["v1", "v2"])
def test_compose_config_accepts_the_file(command: list[str]) -> None:
    """``config -q`` parses, validates and interpolates the file; it needs no engine."""
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} not installed; the schema-level checks above still run")
    probe = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        reason = (probe.stderr or probe.stdout).strip().splitlines()[:1]
        pytest.skip(f"{' '.join(command)} is not available here: {' '.join(reason)}")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_published_ports_can_be_moved_without_editing_the_file() -> None:
    """STACK_*_PORT: the stack test (and anyone with 8080 taken) publishes on free ports."""
    text = COMPOSE_FILE.read_text()
    for name, service in services().items():
        for entry in service.get("ports", []):
            assert str(entry).startswith("127.0.0.1:${STACK_"), f"{name}: {entry}"
    assert "STACK_POLLER_PORT" in text


def test_poller_stop_grace_period_outlasts_its_shutdown_grace() -> None:
    """compose kills the container after stop_grace_period: the daemon must be done well before."""
    poller = services()["poller"]
    period = str(poller["stop_grace_period"])
    assert period.endswith("s"), period
    assert float(period[:-1]) > _settings_of(poller).shutdown_grace_seconds + 5


def test_every_service_has_a_pinned_image_or_an_existing_build() -> None:
    for name, service in services().items():
        if "build" in service:
            build = service["build"]
            context = ROOT / build.get("context", ".")
            assert context.is_dir(), f"{name}: build context {context} missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: Dockerfile missing"
        else:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag ({image})"


def test_commands_are_real_console_scripts_with_valid_arguments() -> None:
    ours = project_scripts()
    known = ours | installed_scripts()
    for name, service in services().items():
        if "build" not in service and "entrypoint" not in service:
            continue  # a third-party image's own entrypoint (prometheus, grafana): command is its flags
        argv = _argv(service)
        assert argv[0] in known, f"{name}: {argv[0]} is not a console script"
        if "build" in service:
            scripts = ours if not service["build"].get("target") else sim_scripts()
            assert argv[0] in scripts, f"{name}: {argv[0]} is not a console script of the image's project"
        if argv[0] == "poller":
            poller_parser().parse_args(argv[1:])
        elif argv[0] == "drssim":
            drssim_parser().parse_args(argv[1:])


def test_moto_server_script_exists_in_the_dev_environment() -> None:
    assert "moto_server" in installed_scripts(), "moto[server] (dev extra) provides moto_server"


def test_ports_are_the_documented_ones_and_match_what_listens() -> None:
    for name, service in services().items():
        for host_ip, host_port, container_port in port_mappings(service):
            assert host_ip == "127.0.0.1", f"{name}: publish on loopback only"
            assert host_port == DOCUMENTED_PORTS[name], f"{name}: docs say port {DOCUMENTED_PORTS[name]}"
            assert container_port == _listen_port(name, service), (
                f"{name}: nothing listens on {container_port}"
            )
    published = {name for name, s in services().items() if s.get("ports")}
    assert published == set(DOCUMENTED_PORTS)


def test_poller_env_vars_are_settings_fields_and_valid_together() -> None:
    for name, service in services().items():
        env = environment(service)
        unknown = {k for k in env if k.startswith("POLLER_")} - SETTINGS_FIELDS
        assert not unknown, f"{name}: not fields of poller.config.Settings: {sorted(unknown)}"
        if any(k.startswith("POLLER_") for k in env):
            _settings_of(service)  # raises on an invalid value or a missing token off loopback


def test_endpoint_urls_point_at_services_that_listen_there() -> None:
    all_services = services()
    for name, service in all_services.items():
        for key, value in environment(service).items():
            if not key.endswith("_ENDPOINT_URL"):
                continue
            url = urlsplit(value)
            assert url.hostname in all_services, f"{name}: {key} host {url.hostname} is no service"
            target = all_services[url.hostname]
            assert url.port == _listen_port(url.hostname, target), f"{name}: {key} port {url.port}"


def test_poller_off_loopback_has_a_labelled_local_token() -> None:
    poller = services()["poller"]
    assert environment(poller)["POLLER_HTTP_HOST"] == "0.0.0.0"
    assert environment(poller)["POLLER_API_TOKEN"]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "LOCAL-ONLY" in text.split("POLLER_API_TOKEN:")[0].rsplit("POLLER_HTTP_PORT", 1)[1]


def test_start_order_tables_before_poller() -> None:
    all_services = services()
    init, poller = all_services["init-tables"], all_services["poller"]
    assert _argv(init)[:2] == ["poller", "init-tables"]
    assert init["depends_on"]["moto"]["condition"] == "service_healthy"
    assert poller["depends_on"]["init-tables"]["condition"] == "service_completed_successfully"
    for name, service in all_services.items():
        deps = service.get("depends_on", [])
        assert set(deps) <= set(all_services), f"{name}: depends on an unknown service"


def test_mounted_files_exist() -> None:
    mounts = 0
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
                mounts += 1
    assert mounts >= 3


def test_env_example_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert keys and keys <= SETTINGS_FIELDS, sorted(keys - SETTINGS_FIELDS)
    for key in [k for k in __import__("os").environ if k.startswith("POLLER_")]:
        monkeypatch.delenv(key)
    settings = load_settings(ENV_EXAMPLE)
    assert settings.drs_regions == ["us-east-1", "us-west-2"]


# ---- Dockerfile ---------------------------------------------------------------------------------
def test_dockerfile_is_multi_stage_and_ships_only_the_runtime() -> None:
    instructions = dockerfile_instructions()
    froms = [i for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2, "multi-stage: build stage + runtime stage"
    last = froms[-1].stage
    assert any(i.keyword == "COPY" and "--from=" in i.args for i in instructions if i.stage == last)
    runs = " ".join(i.args for i in instructions if i.keyword == "RUN")
    assert "pip install" in runs and "[dev]" not in runs and "requirements-dev" not in runs
    args = {
        i.args.split("=", 1)[0]: i.args.split("=", 1)[1]
        for i in instructions
        if i.keyword == "ARG" and "=" in i.args
    }
    base = " ".join(f.args for f in froms)
    for name, value in args.items():
        base = base.replace(f"${{{name}}}", value)
    assert "python:3.11" in base and "slim" in base, base


def test_dockerfile_runs_as_non_root() -> None:
    users = [i.args for i in dockerfile_instructions() if i.keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user


def test_dockerfile_healthcheck_uses_python_on_healthz() -> None:
    checks = [i.args for i in dockerfile_instructions() if i.keyword == "HEALTHCHECK"]
    assert len(checks) == 1
    command = exec_form(checks[0].split("CMD", 1)[1].strip())
    assert command[0] == "python" and "/healthz" in " ".join(command) and "curl" not in " ".join(command)
    code = command[command.index("-c") + 1]
    compile(code, "healthcheck", "exec")


def test_dockerfile_entrypoint_is_exec_form_poller_run() -> None:
    instructions = _stage()
    entrypoint = _dockerfile_entrypoint()
    cmd = exec_form([i for i in instructions if i.keyword == "CMD"][-1].args)
    assert entrypoint == ["poller"] and entrypoint[0] in project_scripts()
    assert cmd == ["run"]
    poller_parser().parse_args(cmd)
    assert any(i.keyword == "EXPOSE" and i.args.split()[0] == "8080" for i in instructions)


def test_dockerignore_lets_every_copied_source_in() -> None:
    patterns = [
        p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    assert patterns[0] == "*", "allow-list: start from nothing"
    allowed = {p.lstrip("!").rstrip("/") for p in patterns if p.startswith("!")}
    for instruction in dockerfile_instructions():
        if instruction.keyword != "COPY" or "--from=" in instruction.args:
            continue
        for source in instruction.args.split()[:-1]:
            name = source.rstrip("*")
            assert name in allowed, f"{source} is excluded by .dockerignore"
            assert (ROOT / name).exists() or source.endswith("*"), f"{source} does not exist"
    assert ".venv" not in allowed and "tests" not in allowed


# ---- Prometheus ---------------------------------------------------------------------------------
def test_prometheus_scrapes_the_poller_service() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    all_services = services()
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert "poller" in jobs
    for job in jobs.values():
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, port = target.rsplit(":", 1)
                assert host in all_services, f"{job['job_name']}: {host} is no compose service"
                assert int(port) == _listen_port(host, all_services[host]), target
    prometheus = all_services["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    mounted = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"]}
    assert (ROOT / mounted[config_flag.split("=", 1)[1]]).resolve() == PROMETHEUS_FILE.resolve()


REQUIRED_ALERTS = {
    "PollerFinderFailing": {"poller_finder_runs_total"},
    "DrsThrottled": {"poller_drs_calls_total"},
    "ExecutionsTimingOut": {"poller_timeouts_total"},
    "ExecutionsNotProgressing": {"poller_executions_tracked", "poller_polls_total"},
    "PollerDown": {"up"},
}


def test_alert_rules_cover_what_operators_need() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), names
    assert set(names) == set(REQUIRED_ALERTS)
    for rule in rules:
        assert promql_metric_names(rule["expr"]) >= REQUIRED_ALERTS[rule["alert"]], rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    throttled = next(r for r in rules if r["alert"] == "DrsThrottled")
    assert throttled["for"] == "5m"
    _assert_every_throttling_outcome(throttled["expr"])


def _assert_every_throttling_outcome(expr: str) -> None:
    """DescribeJobs counts ``throttled``, StartRecovery DRS's own code: the matcher must take them all."""
    matcher = re.search(r'poller_drs_calls_total\{outcome=~"([^"]+)"\}', expr)
    assert matcher, expr
    assert set(matcher.group(1).split("|")) == set(THROTTLING_OUTCOMES), expr


def test_prometheus_loads_the_mounted_alert_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    prometheus = services()["prometheus"]
    mounted = {v.split(":")[1]: (ROOT / v.split(":")[0]).resolve() for v in prometheus["volumes"]}
    assert [mounted[path] for path in config["rule_files"]] == [ALERTS_FILE.resolve()]


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool not installed (apt-get install prometheus); rule names and metrics checked above"
        )
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS_FILE)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(REQUIRED_ALERTS)} rules found" in result.stdout, result.stdout


def test_promtool_accepts_the_prometheus_config() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (apt-get install prometheus); schema checked by the test above")
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(PROMETHEUS_FILE)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- Grafana ------------------------------------------------------------------------------------
def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    grafana = services()["grafana"]
    mounts = {v.split(":")[1]: (ROOT / v.split(":")[0]).resolve() for v in grafana["volumes"]}
    provider = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "dashboards.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert mounts[path] == DASHBOARD_DIR.resolve()
    assert mounts["/etc/grafana/provisioning"] == GRAFANA_PROVISIONING.resolve()
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text())
    source = datasources["datasources"][0]
    assert urlsplit(source["url"]).hostname == "prometheus"
    env = environment(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (DASHBOARD_DIR / Path(home).name).is_file() and home.startswith(path)
    for board in DASHBOARD_DIR.glob("*.json"):
        for panel in dashboard_panels(json.loads(board.read_text())):
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] == source["uid"], panel["title"]


def test_dashboard_rows_put_executions_first_and_the_daemon_last() -> None:
    """What a DR team looks for first: executions, then DRS, then the daemon's insides."""
    board = json.loads((DASHBOARD_DIR / "drs-poller.json").read_text())
    panels = dashboard_panels(board)
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["Executions", "DRS", "Daemon health"]
    grouped: dict[str, list[str]] = {}
    row = ""
    for panel in panels:
        if panel["type"] == "row":
            row = panel["title"]
        else:
            assert row, f"{panel['title']}: above the first row"
            grouped.setdefault(row, []).extend(t["expr"] for t in panel["targets"])
    expected = {
        "Executions": ["poller_executions_tracked", "poller_execution_duration_seconds_count",
                       'level="server", status="FAILED"', "poller_timeouts_total"],
        "DRS": ["poller_drs_calls_total", "throttled", "poller_drs_call_seconds_bucket"],
        "Daemon health": ["poller_event_loop_lag_seconds_bucket", "poller_finder_runs_total",
                          "poller_dynamodb_calls_total"],
    }  # fmt: skip
    for row, needles in expected.items():
        text = " ".join(grouped[row])
        for needle in needles:
            assert needle in text, f"row {row}: no panel shows {needle}"
    _assert_every_throttling_outcome(next(e for e in grouped["DRS"] if "throttled" in e))
    tops = [p["gridPos"]["y"] for p in board["panels"]]
    assert tops == sorted(tops), "panels listed out of display order"


def test_dashboard_queries_need_no_grafana_variables() -> None:
    """The stack test runs every query on Prometheus itself: no $__interval and friends."""
    for board, title, expr in dashboard_queries():
        assert "$" not in expr, f"{board} / {title}: {expr}"


def test_dashboard_covers_the_issue_panels() -> None:
    exprs = " ".join(expr for _, _, expr in dashboard_queries())
    for metric in (
        "poller_executions_tracked",
        "poller_transitions_total",
        "poller_drs_calls_total",
        "poller_poll_staleness_seconds_bucket",
        "poller_drs_call_seconds_bucket",
        "poller_event_loop_lag_seconds_bucket",
        "poller_dynamodb_calls_total",
        "poller_write_conflicts_total",
    ):
        assert metric in exprs, f"no panel shows {metric}"


def test_promql_metric_name_extraction() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, region) (rate(foo_bucket{outcome="x"}[5m]))) / bar_total'
    assert promql_metric_names(expr) == {"foo_bucket", "bar_total"}
    expr = (
        "sum by (a) (increase(x_total[15m])) > 0 or (x_total unless x_total offset 15m) unless on (a) y > 1e3"
    )
    assert promql_metric_names(expr) == {"x_total", "y"}
    assert promql_selectors('rate(a{b="c"}[1m]) / a') == {'a{b="c"}', "a"}


@pytest.mark.integration
async def test_every_dashboard_query_names_an_exported_metric(running_daemon: RunningDaemon) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{running_daemon.url}/metrics") as resp:
        assert resp.status == 200
        exported = exposed_series(await resp.text())
    assert "poller_executions_tracked" in exported
    queries = dashboard_queries()
    assert queries
    for board, title, expr in queries:
        names = promql_metric_names(expr)
        assert names, f"{board} / {title}: no metric in {expr}"
        missing = names - exported
        assert not missing, f"{board} / {title}: {sorted(missing)} not exported by the poller"
    for rule in alert_rules():
        missing = promql_metric_names(rule["expr"]) - exported - PROMETHEUS_SERIES
        assert not missing, f"alert {rule['alert']}: {sorted(missing)} not exported by the poller"


@pytest.mark.integration
async def test_prometheus_needs_no_token_to_scrape(make_settings: Callable[..., Settings]) -> None:
    """config/prometheus.yml sends no credentials: /metrics must stay open while the API is not."""
    running = await start_daemon(make_settings(api_token="local-test-token"))
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{running.url}/metrics") as resp:
                assert resp.status == 200
            async with session.get(f"{running.url}/healthz") as resp:
                assert resp.status in (200, 503)  # 503 only until the first loop beat; never 401
            async with session.get(f"{running.url}/executions", params={"status": "POLLING"}) as resp:
                assert resp.status == 401
    finally:
        running.stop.set()
        await running.task
