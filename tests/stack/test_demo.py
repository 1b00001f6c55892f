"""``poller-dev demo`` (``make run``) end to end, as a user runs it: a subprocess with real moto, drssim and daemon."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from poller_devtools.cli import build_parser
from poller_devtools.demo import DemoOptions, demo_plan, scaled_settings
from poller_devtools.demo_view import ProgressView, render_summary

from tests.stack.compose_support import ROOT

TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "TIMEOUT", "CANCELLED")
FREE_PORTS = ["--port", "0", "--drssim-port", "0", "--moto-port", "0"]


def _demo(*args: str) -> list[str]:
    return [sys.executable, "-m", "poller_devtools", "demo", *FREE_PORTS, *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLLER_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


@pytest.mark.integration
@pytest.mark.slow
def test_demo_runs_to_a_summary_with_every_execution_terminal() -> None:
    started = time.monotonic()
    result = subprocess.run(
        _demo("--time-scale", "600", "--servers", "6", "--failure-rate", "0.2", "--seed", "11", "--plain"),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "Traceback" not in result.stderr
    assert re.search(r"poller API\s+http://127\.0\.0\.1:\d+/executions", out)
    assert re.search(r"metrics\s+http://127\.0\.0\.1:\d+/metrics", out)
    summary = out.split("Summary (time-scale 600x", 1)[1]
    executions = re.findall(
        r"^  (\S+) (DRILL|RECOVERY) (\S+)  took (\S+) wall, (\S+) simulated$", summary, re.M
    )
    assert {kind for _, kind, *_ in executions} == {"DRILL", "RECOVERY"}
    assert all(status in TERMINAL for _, _, status, *_ in executions), executions
    assert "PARTIAL" in {status for _, _, status, *_ in executions}, "--failure-rate 0.2 must show PARTIAL"
    assert re.search(r"LAUNCHED\s+i-[0-9a-f]{17}", summary)
    assert "2/2 executions reached a terminal state." in summary
    # after the drill: its instances cleaned up, its report written as one HTML file
    assert re.search(
        r"^Drill \S+ cleanup COMPLETED: (\d+) of \1 recovery instances terminated$", summary, re.M
    )
    report = re.search(r"^Drill report: (.+\.html)$", summary, re.M)
    assert report and Path(report.group(1)).read_text().startswith("<!doctype html>")
    assert time.monotonic() - started < 60


@pytest.mark.integration
def test_ctrl_c_stops_the_demo_cleanly() -> None:
    proc = subprocess.Popen(
        _demo("--time-scale", "2", "--servers", "3", "--plain"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        seen = ""
        while "Plan " not in seen and time.monotonic() < deadline:
            seen += proc.stdout.readline()
        assert "Plan " in seen, seen
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err, err
    assert "Interrupted" in out and "Summary" in out


def test_help_documents_the_knobs() -> None:
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]  # type: ignore[union-attr]
    text = demo.format_help()
    for flag in (
        "--executions",
        "--servers",
        "--failure-rate",
        "--time-scale",
        "--port",
        "--drssim-port",
        "--moto-port",
    ):
        assert flag in text


def test_settings_are_scaled_with_floors() -> None:
    fast = scaled_settings(DemoOptions(time_scale=30), "http://m", "http://d", "t", port=0)
    assert fast.interval_pending_seconds == pytest.approx(45 / 30)
    assert fast.finder_period_seconds <= 1.0 and fast.api_token == "t"
    assert fast.drs_regions == ["us-east-1", "us-west-2"]
    very_fast = scaled_settings(DemoOptions(time_scale=10_000), "http://m", "http://d", "t", port=0)
    assert very_fast.interval_started_seconds == 0.1 and very_fast.finder_period_seconds == 0.2
    assert very_fast.timeout_seconds >= 60
    # a wave waiting for DRS capacity re-reads it within simulated minutes, floored
    assert fast.capacity_refresh_seconds == pytest.approx(10 / 30)
    assert very_fast.capacity_refresh_seconds == 0.2
    real = scaled_settings(DemoOptions(time_scale=1), "http://m", "http://d", "t", port=0)
    assert real.interval_pending_seconds == 45 and real.timeout_seconds >= 1800
    assert real.capacity_refresh_seconds == 10


def test_demo_plan_has_three_waves_over_two_regions_with_valid_ids() -> None:
    import random

    plan = demo_plan(12, "PARALLEL", random.Random(1))
    ids = [s for w in plan["Waves"] for s in w["SourceServerIds"]]
    assert len(plan["Waves"]) == 3 and len(ids) == 12 == len(set(ids))
    assert {w["Region"] for w in plan["Waves"]} == {"us-east-1", "us-west-2"}
    assert all(re.fullmatch(r"s-[0-9a-zA-Z]{17}", s) for s in ids)


def _item(status: str, server_status: str) -> dict[str, object]:
    servers = [
        {"SourceServerId": f"s-{i:017d}", "Status": server_status, "InstanceId": "i-0123"} for i in range(2)
    ]
    return {"Status": status, "StartTime": 100.0, "EndTime": 130.0,
            "Waves": [{"WaveName": "w1", "Region": "us-east-1", "Status": "LAUNCHING", "Servers": servers}]}  # fmt: skip


def test_plain_view_prints_only_changes() -> None:
    out = io.StringIO()
    view = ProgressView({"e1": "DRILL"}, 30.0, lambda: 0.0, out=out, tty=False)
    view.update({"e1": _item("POLLING", "PENDING")})
    view.update({"e1": _item("POLLING", "PENDING")})
    view.update({"e1": _item("POLLING", "IN_PROGRESS")})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "2 PENDING" in lines[0] and "2 IN_PROGRESS" in lines[1]
    assert "\x1b[" not in out.getvalue()


def test_tty_view_redraws_in_place() -> None:
    out = io.StringIO()
    view = ProgressView({"e1": "DRILL"}, 30.0, lambda: 0.0, out=out, tty=True)
    view.update({"e1": _item("POLLING", "PENDING")})
    first = out.getvalue()
    view.update({"e1": _item("POLLING", "PENDING")})
    assert "\x1b[" not in first and out.getvalue()[len(first) :].startswith(
        f"\x1b[{len(first.splitlines())}F"
    )


def test_summary_shows_durations_in_wall_and_simulated_time() -> None:
    lines = render_summary(
        {"e1": _item("COMPLETED", "LAUNCHED"), "e2": None}, {"e1": "DRILL", "e2": "RECOVERY"}, 30.0
    )
    text = "\n".join(lines)
    assert "took 30.0s wall, 15m00s simulated" in text
    assert "i-0123" in text and "never became visible" in text
    assert lines[-1] == "1/2 executions reached a terminal state."


def test_wait_budget_lets_executions_on_the_same_servers_take_turns() -> None:
    # DRS runs a source server in one job at a time, so the demo's executions launch one after another
    one, two = DemoOptions(executions=1, time_scale=30), DemoOptions(executions=2, time_scale=30)
    assert two.wait_budget() - 30 == 2 * (one.wait_budget() - 30)
