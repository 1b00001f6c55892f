"""Errors a user can act on say what to do."""

from __future__ import annotations

from botocore.exceptions import ClientError, EndpointConnectionError

from poller.aws.drs import _HINTS, DrsError


def test_uninitialized_drs_region_says_to_initialize_it() -> None:
    cause = ClientError({"Error": {"Code": "UninitializedAccountException"}}, "DescribeJobs")
    assert "initialize Elastic Disaster Recovery" in str(DrsError("eu-west-1", cause))


def test_unreachable_drs_names_the_settings_to_check() -> None:
    cause = EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
    message = str(DrsError("us-east-1", cause))
    assert "POLLER_DRS_ENDPOINT_URL" in message and "us-east-1" in message


def test_throttling_is_flagged_for_backoff_without_a_hint() -> None:
    error = DrsError("us-east-1", ClientError({"Error": {"Code": "ThrottlingException"}}, "DescribeJobs"))
    assert error.throttled
    assert not any(hint in str(error) for hint in _HINTS.values())
