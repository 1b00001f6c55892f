"""Driving a Docker engine, the compose stack and its HTTP endpoints from the container tests.

Only the ``docker`` CLI and Compose (``docker compose`` v2 or ``docker-compose`` v1.29) are
used, as a user would: no Docker SDK. Every step prints one progress line (``make stack-test``
runs pytest with ``-s``), because image builds and the stack take minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.stack.compose_support import COMPOSE_FILE, ROOT, services

STARTED = time.monotonic()
# Published ports of docker-compose.yml (``127.0.0.1:${STACK_<NAME>_PORT:-default}:port``).
PORT_VARIABLES = {
    "moto": "STACK_MOTO_PORT",
    "drssim": "STACK_DRSSIM_PORT",
    "poller": "STACK_POLLER_PORT",
    "prometheus": "STACK_PROMETHEUS_PORT",
    "grafana": "STACK_GRAFANA_PORT",
}


def say(message: str) -> None:
    """One progress line, with the time since the module started."""
    print(f"[stack-test {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=dict(env or os.environ)
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


@dataclass(frozen=True)
class Engine:
    """A Docker engine that answers, the Compose command to drive it, and how builds reach the network."""

    server_version: str
    compose: tuple[str, ...]
    build_network: str | None

    @classmethod
    def find(cls) -> Engine | str:
        """The engine, or why there is none (the test module is then skipped with that reason)."""
        if shutil.which("docker") is None:
            return "no `docker` command: install Docker (engine + compose) to run the stack test"
        probe = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=60, check=False)
        if probe.returncode != 0:
            reason = first_line(probe.stderr) or first_line(probe.stdout)
            return f"no Docker engine answers (`docker info`: {reason}); start one or point DOCKER_HOST at it"
        compose: tuple[str, ...] | None = None
        for candidate in (("docker", "compose"), ("docker-compose",)):
            if (
                shutil.which(candidate[0])
                and run([*candidate, "version"], timeout=60, check=False).returncode == 0
            ):
                compose = candidate
                break
        if compose is None:
            return "neither `docker compose` (v2) nor `docker-compose` (v1.29) is installed"
        network = os.environ.get("STACK_BUILD_NETWORK")
        if network is None:
            # An engine started without its default bridge can reach the package index only
            # through the host's network while building; any other engine builds as usual.
            has_bridge = (
                run(["docker", "network", "inspect", "bridge"], timeout=60, check=False).returncode == 0
            )
            network = "" if has_bridge else "host"
        return cls(first_line(probe.stdout), compose, network or None)


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    target: str | None
    size_bytes: int
    seconds: float


def build_images(engine: Engine) -> dict[str, BuiltImage]:
    """Every image the compose file builds, by the tag and target it names, from the repo root."""
    wanted: dict[str, str | None] = {}
    for service in services().values():
        if "build" in service:
            wanted[service["image"]] = service["build"].get("target")
    built = {}
    for tag, target in wanted.items():
        argv = ["docker", "build", "-t", tag, "-f", str(ROOT / "Dockerfile")]
        if target:
            argv += ["--target", target]
        if engine.build_network:
            argv += ["--network", engine.build_network]
        argv.append(str(ROOT))
        say(f"building {tag} (target {target or 'default: runtime'}): {' '.join(argv[1:])}")
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            tail = [*tail[-40:], line.rstrip()]
            if re.match(r"(Step \d+/\d+ : |#\d+ \[)", line):  # legacy builder / BuildKit step lines
                say(f"  {tag}: {line.strip()[:110]}")
        assert proc.wait(timeout=1800) == 0, f"docker build of {tag} failed:\n" + "\n".join(tail)
        size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag], timeout=60).stdout.strip())
        built[tag] = BuiltImage(tag, target, size, time.monotonic() - started)
        say(f"built {tag} in {built[tag].seconds:.0f}s: {size / 1e6:.0f} MB")
    return built


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """One compose project of docker-compose.yml, on free published ports."""

    engine: Engine
    project: str
    token: str
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POLLER_", "STACK_"))}
        env.update({PORT_VARIABLES[name]: str(port) for name, port in self.ports.items()})
        env["POLLER_API_TOKEN"] = self.token  # interpolated into the poller's environment by compose
        return env

    def compose(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [*self.engine.compose, "-p", self.project, "-f", str(COMPOSE_FILE), *args]
        return run(argv, timeout=timeout, env=self.env, check=check)

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def container_id(self, service: str) -> str:
        cid = self.compose("ps", "-q", service).stdout.strip()
        assert cid, f"no container for {service}"
        return cid


def http(
    method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 15
) -> tuple[int, Any]:
    """(status, decoded JSON body or text); HTTP errors are answers too, connection errors raise."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_for(what: str, probe: Any, timeout: float, interval: float = 1.0) -> Any:
    """Call ``probe`` until it returns something truthy; connection errors count as not yet."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (OSError, urllib.error.URLError) as err:
            value, last = None, err
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last error: {last})")


def prometheus_query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    """Instant query result; an AssertionError with Prometheus' message when the expression is invalid."""
    url = stack.url("prometheus", "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    status, body = http("GET", url)
    assert status == 200 and isinstance(body, dict) and body.get("status") == "success", (
        f"Prometheus rejected {expr!r}: {status} {body}"
    )
    return list(body["data"]["result"])
