"""Readers for the local-stack files (compose, Dockerfile, PromQL), shared by the stack tests.

No Docker engine is needed: the files are checked against the code they start (console
scripts, CLI parsers, Settings fields, exported metrics), which is where they usually drift.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROMETHEUS_FILE = ROOT / "config" / "prometheus.yml"
ALERTS_FILE = ROOT / "config" / "prometheus" / "alerts.yml"
DASHBOARD_DIR = ROOT / "config" / "grafana" / "dashboards"
GRAFANA_PROVISIONING = ROOT / "config" / "grafana" / "provisioning"
ENV_EXAMPLE = ROOT / "config" / "poller.env.example"

_DEFAULTED_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*))?\}")


def load_compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def services() -> dict[str, dict[str, Any]]:
    return dict(load_compose()["services"])


def project_scripts() -> set[str]:
    return set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"])


def sim_scripts() -> set[str]:
    """drssim's console scripts: its own distribution (sim/), built by the Dockerfile's ``drssim`` target."""
    return set(tomllib.loads((ROOT / "sim" / "pyproject.toml").read_text())["project"]["scripts"])


def installed_scripts() -> set[str]:
    return {ep.name for ep in entry_points(group="console_scripts")}


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set in the environment: the default."""
    return _DEFAULTED_VAR.sub(lambda m: m.group("default") or "", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): interpolate(str(v)) for k, v in env.items()}


def port_mappings(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) of each ``ip:host:container`` entry."""
    out = []
    for entry in service.get("ports", []):
        parts = interpolate(str(entry)).split(":")
        assert len(parts) == 3, f"publish on an explicit address (127.0.0.1:host:container): {entry}"
        out.append((parts[0], int(parts[1]), int(parts[2].split("/")[0])))
    return out


@dataclass(frozen=True)
class Instruction:
    stage: int
    keyword: str
    args: str


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    """Instructions with line continuations joined and comments dropped; stage 0 is the first FROM."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    out = []
    stage = -1
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        out.append(Instruction(stage, keyword, args.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """JSON-array (exec) form, or an AssertionError saying the shell form hides SIGTERM."""
    try:
        value = json.loads(args)
    except ValueError:
        raise AssertionError(f"not exec form (a shell would be PID 1 and swallow SIGTERM): {args}") from None
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), args
    return value


_PROMQL_FUNCTIONS = {
    "sum", "avg", "min", "max", "count", "rate", "irate", "increase", "delta", "histogram_quantile",
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "topk", "bottomk", "quantile", "abs", "clamp_min", "clamp_max", "time", "vector", "scalar",
    "offset", "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "label_replace",
    "absent", "absent_over_time", "changes", "resets",
}  # fmt: skip

# Series Prometheus itself writes for every scrape target: rules may name them, the poller never exports them.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names of a PromQL expression: identifiers that are not functions, labels or keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)  # label lists
    text = re.sub(r"(?<![A-Za-z0-9_:.])\d[0-9A-Za-z.]*", "", text)  # numbers and durations (offset 15m)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text))
    return {n for n in names if n not in _PROMQL_FUNCTIONS and not re.fullmatch(r"\d+[smhdwy]?|e", n)}


def exposed_series(metrics_text: str) -> set[str]:
    """Every series name a scrape may carry, from its metric families (each has a type even with no
    sample yet), read with prometheus-client's parser: a counter family's name lacks ``_total``."""
    out: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        name, kind = family.name, family.type
        if kind == "histogram":
            out |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind == "summary":
            out |= {name, f"{name}_sum", f"{name}_count"}
        elif kind == "counter":
            out.add(f"{name}_total")
        else:
            out.add(name)
    return out


def promql_selectors(expr: str) -> set[str]:
    """The series selectors of a PromQL expression (``name`` or ``name{matchers}``), to ask whether samples exist."""
    out = set()
    for name in promql_metric_names(expr):
        for match in re.finditer(rf"(?<![A-Za-z0-9_:]){re.escape(name)}\s*(\{{[^}}]*\}})?", expr):
            out.add(name + (match.group(1) or ""))
    return out


def dashboard_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel in display order, rows included, with the panels of collapsed rows after their row."""
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every target in every provisioned dashboard."""
    out = []
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in dashboard_panels(board):
            for target in panel.get("targets", []):
                out.append((path.name, str(panel.get("title")), str(target["expr"])))
    return out


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of config/prometheus/alerts.yml, each with its group's name under ``group``."""
    doc = yaml.safe_load(ALERTS_FILE.read_text())
    return [{**rule, "group": group["name"]} for group in doc["groups"] for rule in group["rules"]]
