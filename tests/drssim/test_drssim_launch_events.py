"""drssim's launch-result events: one per server of a LAUNCH job, when it launches or fails,
in the shape DRS publishes (checked against a real EventBridge → SQS path in
tests/integration/test_launch_events.py)."""

from __future__ import annotations

import json
import random
from typing import Any

from drssim.clock import SimClock
from drssim.launch_events import EventOptions, LaunchEventEmitter
from drssim.state import Simulator


def emitter(**options: Any) -> tuple[Simulator, LaunchEventEmitter]:
    sim = Simulator(clock=SimClock(0.0), seed=3)
    sent: list[tuple[str, dict[str, Any]]] = []
    events = LaunchEventEmitter(
        sim,
        EventOptions("http://unused", **options),
        send=lambda r, e: sent.extend((r, x) for x in e),
        rng=random.Random(5),
    )
    return sim, events


def test_each_server_reports_once_when_its_launch_ends() -> None:
    sim, events = emitter()
    job = sim.create_job("us-west-2", [("s-aaaaaaaaaaaaaaaaa", None), ("s-bbbbbbbbbbbbbbbbb", None)], True)
    assert events.due() == []  # PENDING: nothing to say
    sim.advance_phase("IN_PROGRESS", [job.job_id])
    assert events.due() == []
    sim.fail_server(job.job_id, "s-bbbbbbbbbbbbbbbbb", "no capacity")
    [(region, failed)] = events.due()
    assert region == "us-west-2"
    assert failed["Source"] == "aws.drs" and failed["DetailType"] == "DRS Source Server Launch Result"
    assert json.loads(failed["Detail"]) == {
        "state": "RECOVERY_LAUNCH_FAILED",
        "job-id": job.job_id,
        "is-drill": "TRUE",
    }
    assert failed["Resources"] == ["arn:aws:drs:us-west-2:123456789012:source-server/s-bbbbbbbbbbbbbbbbb"]
    sim.advance_phase("COMPLETED", [job.job_id])
    [(_, launched)] = events.due()
    assert json.loads(launched["Detail"])["state"] == "RECOVERY_LAUNCH_SUCCEEDED"
    assert launched["Resources"][0].endswith("/s-aaaaaaaaaaaaaaaaa")
    assert events.due() == []  # reported once


def test_terminate_jobs_and_held_jobs_say_nothing() -> None:
    sim, events = emitter()
    job = sim.create_job("us-east-1", [("s-aaaaaaaaaaaaaaaaa", None)], False)
    sim.hold([job.job_id], True)
    sim.clock.advance(24 * 3600)
    assert events.due() == []  # held: its timeline does not move
    sim.hold([job.job_id], False)
    sim.advance_phase("COMPLETED", [job.job_id])
    assert len(events.due()) == 1
    sim.create_terminate_job("us-east-1", [(job, "s-aaaaaaaaaaaaaaaaa")])
    sim.clock.advance(3600)
    assert events.due() == []


def test_best_effort_drops_and_duplicates_when_asked() -> None:
    sim, events = emitter(drop_rate=0.3, duplicate_rate=0.1)
    servers = [(f"s-{i:017d}", None) for i in range(200)]
    job = sim.create_job("us-east-1", servers, True)
    sim.advance_phase("COMPLETED", [job.job_id])
    out = events.due()
    assert events.dropped + len(out) - events.duplicated == 200
    assert 30 <= events.dropped <= 90 and 5 <= events.duplicated <= 40
