"""The DRS wire protocol, driven only by the real boto3 client and SimControl."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from drssim.testing import RunningSimulator
from drssim_helpers import describe, start, statuses

from tests.ids import source_server_id

JOB_ID_RE = re.compile(r"^drsjob-[0-9a-zA-Z]{17}$")
ISO_Z_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
NO_CLIENT_VALIDATION = Config(
    parameter_validation=False, retries={"mode": "standard", "total_max_attempts": 1}
)


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_start_recovery_returns_202_job(drs: Any) -> None:
    resp = drs.start_recovery(
        sourceServers=[{"sourceServerID": source_server_id()}, {"sourceServerID": source_server_id()}],
        isDrill=True,
        tags={"team": "dr"},
    )
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    job = resp["job"]
    assert JOB_ID_RE.match(job["jobID"])
    assert job["arn"].endswith(f":job/{job['jobID']}") and ":us-east-1:" in job["arn"]
    assert (job["type"], job["initiatedBy"], job["status"]) == ("LAUNCH", "START_DRILL", "PENDING")
    assert ISO_Z_RE.match(job["creationDateTime"])
    assert statuses(job) == ["PENDING", "PENDING"]
    assert job["tags"] == {"team": "dr"}
    recovery = start(drs, is_drill=False)
    assert recovery["initiatedBy"] == "START_RECOVERY"


def test_describe_jobs_unknown_ids_absent_and_other_region_invisible(drs: Any, drs_factory: Any) -> None:
    job = start(drs)
    unknown = "drsjob-" + "0" * 17
    items = drs.describe_jobs(filters={"jobIDs": [unknown, job["jobID"]]})["items"]
    assert [i["jobID"] for i in items] == [job["jobID"]]
    west = drs_factory("us-west-2")
    assert west.describe_jobs(filters={"jobIDs": [job["jobID"]]})["items"] == []
    assert west.describe_jobs()["items"] == []


def test_per_region_state_and_call_log(sim: RunningSimulator, drs_factory: Any) -> None:
    east, west = drs_factory("us-east-1"), drs_factory("eu-west-1")
    start(east)
    start(east)
    start(west)
    assert len(east.describe_jobs()["items"]) == 2
    assert len(west.describe_jobs()["items"]) == 1
    west.describe_jobs()
    calls = sim.control.calls(operation="DescribeJobs")
    assert [c["region"] for c in calls] == ["us-east-1", "eu-west-1", "eu-west-1"]
    assert len(sim.control.calls(operation="DescribeJobs", region="eu-west-1")) == 2
    assert {j["region"] for j in sim.control.truth(region="eu-west-1")} == {"eu-west-1"}


def test_describe_jobs_pagination_and_date_filters(drs: Any, sim: RunningSimulator) -> None:
    ids = [start(drs)["jobID"] for _ in range(5)]
    first = drs.describe_jobs(maxResults=2)
    assert len(first["items"]) == 2 and "nextToken" in first
    pages = drs.get_paginator("describe_jobs").paginate(PaginationConfig={"PageSize": 2})
    seen = [i["jobID"] for page in pages for i in page["items"]]
    assert seen == ids
    created = describe(drs, ids[0])["creationDateTime"]
    sim.clock.advance(3600)
    later = start(drs)
    newer = drs.describe_jobs(filters={"fromDate": later["creationDateTime"]})["items"]
    assert [j["jobID"] for j in newer] == [later["jobID"]]
    older = drs.describe_jobs(filters={"toDate": created})["items"]
    assert ids[0] in [j["jobID"] for j in older] and later["jobID"] not in [j["jobID"] for j in older]
    with pytest.raises(ClientError) as exc:
        drs.describe_jobs(nextToken="not-a-token!")
    assert _code(exc) == "ValidationException"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sourceServers": [{"sourceServerID": "s-" + "!" * 17}]}, "sourceServers[0].sourceServerID"),
        ({"sourceServers": [{"sourceServerID": "x-" + "a" * 17}]}, "sourceServers[0].sourceServerID"),
        ({"sourceServers": [{"sourceServerID": source_server_id()} for _ in range(201)]}, "sourceServers"),
        (
            {
                "sourceServers": [
                    {"sourceServerID": source_server_id(), "recoverySnapshotID": "pit-" + "_" * 17}
                ]
            },
            "sourceServers[0].recoverySnapshotID",
        ),
    ],
)
def test_start_recovery_validation_errors(drs: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ClientError) as exc:
        drs.start_recovery(**kwargs)
    assert _code(exc) == "ValidationException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert field in [f["name"] for f in exc.value.response["fieldList"]]


def test_describe_jobs_validation_limits(drs: Any) -> None:
    too_many = ["drsjob-" + f"{i:017d}" for i in range(1001)]
    with pytest.raises(ClientError) as exc:
        drs.describe_jobs(filters={"jobIDs": too_many})
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        drs.describe_jobs(filters={"jobIDs": ["drsjob-" + "-" * 17]})
    assert _code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        drs.describe_jobs(filters={"fromDate": "2024-13-01T00:00:00Z"})
    assert _code(exc) == "ValidationException"
    exactly = ["drsjob-" + f"{i:017d}" for i in range(1000)]
    assert drs.describe_jobs(filters={"jobIDs": exactly})["items"] == []


def test_server_side_checks_what_botocore_skips(drs_factory: Any) -> None:
    raw = drs_factory(config=NO_CLIENT_VALIDATION)
    for kwargs in (
        {},  # missing required sourceServers
        {"sourceServers": []},  # below min
        {"sourceServers": [{"sourceServerID": source_server_id()}], "isDrill": "yes"},  # wrong type
    ):
        with pytest.raises(ClientError) as exc:
            raw.start_recovery(**kwargs)
        assert _code(exc) == "ValidationException", kwargs
    with pytest.raises(ClientError) as exc:
        raw.describe_jobs(maxResults=0)
    assert _code(exc) == "ValidationException"


def test_strict_source_servers(sim: RunningSimulator, drs: Any) -> None:
    sim.control.set_strict_source_servers(True)
    with pytest.raises(ClientError) as exc:
        start(drs)
    assert _code(exc) == "ConflictException"
    (sid,) = sim.control.create_source_servers(1)
    job = drs.start_recovery(sourceServers=[{"sourceServerID": sid}])["job"]
    assert job["participatingServers"][0]["sourceServerID"] == sid
    assert job["initiatedBy"] == "START_RECOVERY"  # isDrill defaults to false as in DRS


def test_describe_source_servers(sim: RunningSimulator, drs: Any, drs_factory: Any) -> None:
    ids = sim.control.create_source_servers(3)
    auto = start(drs)["participatingServers"][0]["sourceServerID"]  # auto-registered
    items = drs.describe_source_servers()["items"]
    assert {i["sourceServerID"] for i in items} == {*ids, auto}
    one = drs.describe_source_servers(filters={"sourceServerIDs": [auto]})["items"]
    assert [(i["sourceServerID"], i["lastLaunchResult"]) for i in one] == [(auto, "PENDING")]
    assert drs.describe_source_servers(maxResults=2)["nextToken"]
    assert drs_factory("ap-south-1").describe_source_servers()["items"] == []


def test_recovery_instances_and_terminate(sim: RunningSimulator, drs: Any) -> None:
    job = start(drs, n_servers=2)
    assert drs.describe_recovery_instances()["items"] == []
    sim.clock.advance(3600)
    launched = describe(drs, job["jobID"])
    rids = [s["recoveryInstanceID"] for s in launched["participatingServers"]]
    assert all(re.match(r"^i-[0-9a-f]{17}$", r) for r in rids)
    items = drs.describe_recovery_instances()["items"]
    assert sorted(i["recoveryInstanceID"] for i in items) == sorted(rids)
    assert {i["jobID"] for i in items} == {job["jobID"]}
    only = drs.describe_recovery_instances(filters={"recoveryInstanceIDs": [rids[0]]})["items"]
    assert [i["recoveryInstanceID"] for i in only] == [rids[0]]

    term = drs.terminate_recovery_instances(recoveryInstanceIDs=[rids[0]])["job"]
    assert (term["type"], term["initiatedBy"], term["status"]) == (
        "TERMINATE",
        "TERMINATE_RECOVERY_INSTANCES",
        "PENDING",
    )
    with pytest.raises(ClientError) as exc:  # already being terminated
        drs.terminate_recovery_instances(recoveryInstanceIDs=[rids[0]])
    assert _code(exc) == "ConflictException"
    sim.clock.advance(120)
    assert describe(drs, term["jobID"])["status"] == "COMPLETED"
    assert statuses(describe(drs, term["jobID"])) == ["TERMINATED"]
    assert statuses(describe(drs, job["jobID"])) == ["TERMINATED", "LAUNCHED"]
    left = drs.describe_recovery_instances()["items"]
    assert [i["recoveryInstanceID"] for i in left] == [rids[1]]
    with pytest.raises(ClientError) as exc:
        drs.terminate_recovery_instances(recoveryInstanceIDs=["i-0123456789abcdef0"])
    assert _code(exc) == "ConflictException"


def test_job_log_items_follow_timeline(sim: RunningSimulator, drs: Any) -> None:
    job = start(drs)
    assert drs.describe_job_log_items(jobID=job["jobID"])["items"] == []
    sim.control.advance_jobs("STARTED", [job["jobID"]])
    assert [i["event"] for i in drs.describe_job_log_items(jobID=job["jobID"])["items"]] == ["JOB_START"]
    sim.control.advance_jobs("COMPLETED", [job["jobID"]])
    items = drs.describe_job_log_items(jobID=job["jobID"])["items"]
    events = [i["event"] for i in items]
    assert events[0] == "JOB_START" and events[-1] == "JOB_END" and "LAUNCH_START" in events
    assert all(ISO_Z_RE.match(i["logDateTime"]) for i in items)
    page = drs.describe_job_log_items(jobID=job["jobID"], maxResults=2)
    assert len(page["items"]) == 2 and page["nextToken"]
    assert drs.describe_job_log_items(jobID="drsjob-" + "9" * 17)["items"] == []


def test_unknown_operation_and_garbage_body_are_aws_errors(sim: RunningSimulator) -> None:
    import urllib.error
    import urllib.request

    for path, data in (("/NoSuchOperation", b"{}"), ("/DescribeJobs", b"{not json")):
        req = urllib.request.Request(sim.endpoint_url + path, data=data, method="POST")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(req, timeout=5)
        assert exc.value.code in (400, 404)
        assert exc.value.headers["x-amzn-ErrorType"] in ("UnknownOperationException", "ValidationException")
