"""drssim enforces DRS's quotas when asked, with the error shapes of botocore's drs model."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from drssim.client import SimControlError
from drssim.testing import RunningSimulator


def _start(drs: Any, servers: list[str]) -> str:
    return str(drs.start_recovery(sourceServers=[{"sourceServerID": s} for s in servers])["job"]["jobID"])


def _refusal(drs: Any, servers: list[str]) -> dict[str, Any]:
    with pytest.raises(ClientError) as exc:
        _start(drs, servers)
    response: dict[str, Any] = exc.value.response
    return response


def test_quotas_are_off_by_default(sim: RunningSimulator, drs: Any) -> None:
    assert sim.control.config()["quotas"] == {
        "maxConcurrentJobs": None,
        "maxServersInJobs": None,
        "oneJobPerServer": False,
    }
    for _ in range(30):
        _start(drs, ["s-00000000000000001"])


def test_concurrent_jobs_over_the_quota_is_a_402_service_quota_exceeded(
    sim: RunningSimulator, drs: Any
) -> None:
    sim.control.set_quotas(max_concurrent_jobs=2)
    first = _start(drs, ["s-00000000000000001"])
    _start(drs, ["s-00000000000000002"])
    response = _refusal(drs, ["s-00000000000000003"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["Error"]["Code"] == "ServiceQuotaExceededException"
    assert response["Error"]["Message"].startswith("Exceeded the maximum number of concurrent jobs (2)")
    assert response["serviceCode"] == "drs" and response["quotaCode"] and response["resourceType"] == "JOB"

    sim.control.advance_drs_phase("COMPLETED", [first])  # a finished job frees its slot
    _start(drs, ["s-00000000000000003"])
    sim.control.set_quotas()


def test_servers_across_active_jobs_over_the_quota_is_a_402(sim: RunningSimulator, drs: Any) -> None:
    sim.control.set_quotas(max_servers_in_jobs=3)
    _start(drs, ["s-00000000000000001", "s-00000000000000002"])
    response = _refusal(drs, ["s-00000000000000003", "s-00000000000000004"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 402
    assert response["resourceType"] == "SOURCE_SERVER"
    assert "2 in use, 2 requested" in response["Error"]["Message"]
    sim.control.set_quotas()


def test_a_server_already_in_an_active_job_is_a_409_conflict(sim: RunningSimulator, drs: Any) -> None:
    sim.control.set_quotas(one_job_per_server=True)
    job = _start(drs, ["s-00000000000000001"])
    response = _refusal(drs, ["s-00000000000000002", "s-00000000000000001"])
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert response["Error"]["Code"] == "ConflictException"
    assert response["resourceId"] == "s-00000000000000001"
    assert response["resourceType"] == "SOURCE_SERVER"
    assert job in response["Error"]["Message"]
    calls = [c["outcome"] for c in sim.control.calls(operation="StartRecovery")]
    assert calls[-2:] == ["OK", "ConflictException"]
    sim.control.set_quotas()


def test_bad_quota_settings_are_refused(sim: RunningSimulator) -> None:
    with pytest.raises(SimControlError, match="maxConcurrentJobs"):
        sim.control._post("config", {"quotas": {"maxConcurrentJobs": 0}})
