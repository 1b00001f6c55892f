"""The expected outcome of an execution, derived from drssim's ground truth alone.

Deliberately written from the rules as users state them, not from ``poller.domain``, so a
bug in the poller's rules cannot hide behind the same bug here:

- a server ends as DRS's final launchStatus (LAUNCHED / FAILED);
- a wave is COMPLETED when all its servers launched, FAILED when none did, else PARTIAL;
- an execution is COMPLETED / FAILED when all its waves are, else PARTIAL;
- a job DRS still shows unfinished once the execution is past its timeout makes it TIMEOUT.

Drills only (no post-launch actions), which is what the reliability tests and the soak run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TERMINAL = ("COMPLETED", "PARTIAL", "FAILED", "TIMEOUT", "CANCELLED")


def _combine(statuses: list[str]) -> str:
    if all(s == "COMPLETED" for s in statuses):
        return "COMPLETED"
    if all(s == "FAILED" for s in statuses):
        return "FAILED"
    return "PARTIAL"


def expected_outcome(
    item: Mapping[str, Any], truth_by_job: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``{"Status", "Waves": [status...], "Servers": {id: status}}`` the item must end with."""
    wave_statuses: list[str] = []
    servers: dict[str, str] = {}
    for wave in item["Waves"]:
        finals: list[str] = []
        unfinished = False
        for server in wave["Servers"]:
            job = truth_by_job[server["RecoveryJobId"]]
            truth = {s["sourceServerID"]: s for s in job["servers"]}[server["SourceServerId"]]
            status = truth["launchStatus"]
            if status not in ("LAUNCHED", "FAILED"):
                unfinished = True
            servers[server["SourceServerId"]] = status
            finals.append("COMPLETED" if status == "LAUNCHED" else "FAILED")
        wave_statuses.append("TIMEOUT" if unfinished else _combine(finals))
    status = "TIMEOUT" if "TIMEOUT" in wave_statuses else _combine(wave_statuses)
    return {"Status": status, "Waves": wave_statuses, "Servers": servers}


def actual_outcome(item: Mapping[str, Any]) -> dict[str, Any]:
    """The same shape, read from the item the poller wrote."""
    return {
        "Status": item["Status"],
        "Waves": [w["Status"] for w in item["Waves"]],
        "Servers": {s["SourceServerId"]: s["Status"] for w in item["Waves"] for s in w["Servers"]},
    }


def mismatch(item: Mapping[str, Any], truth_by_job: Mapping[str, Mapping[str, Any]]) -> str | None:
    """None when the item agrees with the truth, else a one-line description of the difference."""
    want = expected_outcome(item, truth_by_job)
    got = actual_outcome(item)
    if want["Status"] == "TIMEOUT":
        # servers DRS still shows unfinished stay as the poller last saw them; compare the rest
        got["Servers"] = {
            k: v for k, v in got["Servers"].items() if want["Servers"][k] in ("LAUNCHED", "FAILED")
        }
        want["Servers"] = {k: v for k, v in want["Servers"].items() if v in ("LAUNCHED", "FAILED")}
    if want == got:
        return None
    return f"{item['ExecutionId']}: expected {want}, got {got}"
