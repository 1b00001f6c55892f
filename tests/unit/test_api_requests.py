"""Request models and body parsing, without a server: field paths, messages, nesting, page keys."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.api.errors import ApiError
from poller.api.plans import validate_plan
from poller.api.requests import (
    MAX_JSON_DEPTH,
    CancelRequest,
    ExecutionRequest,
    decode_token,
    encode_token,
    json_depth,
    parse_json,
    path,
    validated,
)
from poller.store.listing import PlanKey, StartKeyError, StatusIndexKey, start_key

from .builders import server_id

REGIONS = ["us-east-1", "us-west-2"]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab,:\n\x00é'),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\a'), inner, max_size=3)
    ),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(value=JSON, ensure_ascii=st.booleans())
def test_json_depth_reads_valid_json_exactly_whatever_its_strings_hold(
    value: Any, ensure_ascii: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    assert json_depth(raw) == depth(value)


def test_deep_nesting_is_refused_before_parsing_and_the_limit_itself_parses() -> None:
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert depth(parse_json(at_limit, "body")) == MAX_JSON_DEPTH
    for raw in (b"[" * 200_000, b'{"a":' * 50_000, b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)):
        with pytest.raises(ApiError, match="nests deeper") as err:
            parse_json(raw, "body")
        assert (err.value.status, err.value.field) == (400, "body")


def test_many_brackets_inside_strings_do_not_count() -> None:
    raw = json.dumps({"PlanName": "[" * 10_000 + '{"' * 100}).encode()
    assert parse_json(raw, "body") == json.loads(raw)


def test_an_unterminated_string_of_escaped_quotes_is_read_in_one_pass() -> None:
    """The string pattern is possessive: no restart inside a string that never closes."""
    raw = b'["' + b'\\"' * 100_000
    with pytest.raises(ApiError, match="not valid JSON"):
        parse_json(raw, "body")


def plan(*waves: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"Waves": list(waves) or [wave()], **fields}


def wave(**fields: Any) -> dict[str, Any]:
    return {"Region": "us-east-1", "SourceServerIds": [server_id(1)], **fields}


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (plan(Extra=1, Waves=[]), "Extra", "unknown field 'Extra'; allowed: PlanId"),
        (plan(wave(Colour="red")), "Waves[0].Colour", "unknown field 'Colour' in Waves[0]"),
        ({"PlanName": "x"}, "Waves", "Waves is required; it must be a non-empty list"),
        (plan(Waves="wave"), "Waves", "Waves must be a non-empty list of at most 100 waves, not 'wave'"),
        (plan(Waves=[7]), "Waves[0]", "Waves[0] must be an object, not 7"),
        (plan(PlanId="x\n"), "PlanId", "PlanId must match"),
        (plan(PlanId=5), "PlanId", "PlanId must match"),
        (plan(PlanName="  "), "PlanName", "non-empty string"),
        (plan(PlanName="n" * 257), "PlanName", "at most 256"),
        (plan(WaveOrder="RANDOM"), "WaveOrder", "PARALLEL, SEQUENTIAL, not 'RANDOM'"),
        (plan(WaveOrder=["PARALLEL"]), "WaveOrder", "PARALLEL"),
        (plan(Description=3), "Description", "string"),
        (plan(wave(WaveName="a#b")), "Waves[0].WaveName", "without '#'"),
        (plan(wave(WaveName="a\nb")), "Waves[0].WaveName", "control characters"),
        (plan(wave(Region="eu-west-1")), "Waves[0].Region", "'eu-west-1' is not one this poller serves"),
        (plan(wave(Region="us-east-1\n")), "Waves[0].Region", "AWS region name"),
        (plan(wave(Region=["us-east-1"])), "Waves[0].Region", "AWS region name"),
        (plan(wave(SourceServerIds=[])), "Waves[0].SourceServerIds", "non-empty list"),
        (plan(wave(SourceServerIds=server_id(1))), "Waves[0].SourceServerIds", "non-empty list"),
        (plan(wave(SourceServerIds=[server_id(1), 7])), "Waves[0].SourceServerIds[1]", "source server ID"),
        (
            plan(wave(SourceServerIds=[server_id(1) + "\n"])),
            "Waves[0].SourceServerIds[0]",
            "source server ID",
        ),
        (
            plan(wave(SourceServerIds=[server_id(i) for i in range(201)])),
            "Waves[0].SourceServerIds",
            "at most 200",
        ),
        (
            plan(wave(), wave(SourceServerIds=[server_id(1)])),
            "Waves[1].SourceServerIds[0]",
            "in wave 'Wave-1'",
        ),
        (plan(wave(WaveName="A"), wave(WaveName="A")), "Waves[1].WaveName", "used twice"),
        (plan(wave(DependsOn="Wave-1")), "Waves[0].DependsOn", "not an earlier wave"),
        (plan(wave(DependsOn=[["Wave-1"]])), "Waves[0].DependsOn[0]", "earlier wave"),
        (plan(wave(DependsOn=7)), "Waves[0].DependsOn", "wave name or a list"),
    ],
)
def test_a_bad_plan_names_its_field_and_says_what_it_must_be(
    body: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ApiError) as err:
        validate_plan(body, REGIONS)
    assert (err.value.status, err.value.field) == (400, field)
    assert words in err.value.message


def test_a_good_plan_becomes_its_item() -> None:
    body = plan(wave(), wave(SourceServerIds=[server_id(2)], DependsOn="Wave-1", WaveName=None), PlanId="p-1")
    item = validate_plan(body, REGIONS)
    assert item["PlanId"] == item["PlanName"] == "p-1" and item["WaveOrder"] == "PARALLEL"
    assert [w["WaveName"] for w in item["Waves"]] == ["Wave-1", "Wave-2"]
    assert item["Waves"][1]["DependsOn"] == ["Wave-1"] and "DependsOn" not in item["Waves"][0]


@pytest.mark.parametrize(
    ("model", "body", "field", "words"),
    [
        (ExecutionRequest, {"PlanId": "p", "ExecutionType": ["DRILL"]}, "ExecutionType", "DRILL or RECOVERY"),
        (ExecutionRequest, {"PlanId": "p", "ExecutionType": "drill"}, "ExecutionType", "DRILL or RECOVERY"),
        (ExecutionRequest, {"ExecutionType": "DRILL"}, "PlanId", "required"),
        (ExecutionRequest, {"PlanId": "p\n", "ExecutionType": "DRILL"}, "PlanId", "must match"),
        (CancelRequest, {"terminateRecoveryInstances": 1}, "terminateRecoveryInstances", "true or false"),
        (CancelRequest, {"terminate": True}, "terminate", "unknown field"),
    ],
)
def test_execution_and_cancel_bodies(model: Any, body: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ApiError) as err:
        validated(model, body)
    assert (err.value.status, err.value.field) == (400, field)
    assert words in err.value.message


def test_path_notation() -> None:
    assert path(("Waves", 0, "SourceServerIds", 3)) == "Waves[0].SourceServerIds[3]"
    assert path(()) == ""


STATUS_KEY = {"ExecutionId": {"S": "e-1"}, "Status": {"S": "POLLING"}, "StartTime": {"N": "1700000000.125"}}


@pytest.mark.parametrize(
    "key",
    [
        {**STATUS_KEY, "StartTime": {"S": "1"}},
        {**STATUS_KEY, "StartTime": {"N": "1e999"}},
        {**STATUS_KEY, "StartTime": {"N": "1" * 40}},
        {**STATUS_KEY, "StartTime": {"N": "NaN"}},
        {**STATUS_KEY, "StartTime": {"N": 1}},
        {**STATUS_KEY, "ExecutionId": {"S": ""}},
        {**STATUS_KEY, "ExecutionId": {"S": "x" * 257}},
        {**STATUS_KEY, "ExecutionId": {"S": "x", "N": "1"}},
        {**STATUS_KEY, "Other": {"S": "x"}},
        {"ExecutionId": {"S": "e-1"}},
        [],
    ],
)
def test_a_start_key_of_the_wrong_shape_is_refused(key: Any) -> None:
    with pytest.raises(StartKeyError):
        start_key(key, StatusIndexKey)


def test_start_keys_this_listing_returns_are_accepted() -> None:
    assert start_key(STATUS_KEY, StatusIndexKey) == STATUS_KEY
    assert start_key({**STATUS_KEY, "StartTime": {"N": "17E+8"}}, StatusIndexKey)["StartTime"] == {
        "N": "17E+8"
    }
    assert start_key({"PlanId": {"S": "p"}}, PlanKey) == {"PlanId": {"S": "p"}}
    assert decode_token(encode_token(STATUS_KEY)) == STATUS_KEY


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "é",
        encode_token([1]).rstrip("="),
        "WzFd",
        "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tb",
    ],
)
def test_a_token_that_is_no_json_object_is_refused(token: str) -> None:
    with pytest.raises(ApiError) as err:
        decode_token(token)
    assert (err.value.status, err.value.field) == (400, "nextToken")
