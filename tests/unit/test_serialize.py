"""The verbatim DynamoDB request body is byte for byte what botocore's serializer sends."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import aioboto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.model import Shape, ShapeResolver
from botocore.serialize import JSONSerializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.aws.serialize import VerbatimJSONSerializer, use_verbatim_serializer, verbatim_body
from poller.aws.verbatim import body_check, converted_members
from tests.unit.dynamodb_values import attribute_values

DYNAMODB = botocore.session.get_session().get_service_model("dynamodb")
UPDATE_ITEM = DYNAMODB.operation_model("UpdateItem")

# Strings that look like the blob keys from inside a value: they must not fool the check.
TRICKY = st.sampled_from(['"B": ', 'x"BS": y', '\\"B\\": ', "B", "BS", "\u00e9\u2603", ""])
TEXT = st.one_of(st.text(max_size=8), TRICKY)


def update_items(with_blobs: bool) -> st.SearchStrategy[dict[str, Any]]:
    values = attribute_values(TEXT, blob=(lambda b: b) if with_blobs else None)
    return st.fixed_dictionaries(
        {
            "TableName": st.just("executions"),
            "Key": st.builds(lambda s: {"ExecutionId": {"S": s}}, TEXT),
            "UpdateExpression": st.just("SET #a = :a"),
            "ExpressionAttributeNames": st.dictionaries(TEXT, TEXT, max_size=2),
            "ExpressionAttributeValues": st.dictionaries(TEXT, values, max_size=3),
        },
        optional={"ConditionExpression": TEXT, "ReturnValues": st.sampled_from(["NONE", "ALL_NEW"])},
    )


def botocore_request(parameters: dict[str, Any]) -> Any:
    return JSONSerializer().serialize_to_request(parameters, UPDATE_ITEM)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters=update_items(with_blobs=True))
def test_any_update_item_is_serialized_exactly_as_botocore_does(parameters: dict[str, Any]) -> None:
    verbatim = VerbatimJSONSerializer().serialize_to_request(parameters, UPDATE_ITEM)
    assert verbatim == botocore_request(parameters)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameters=update_items(with_blobs=False))
def test_a_request_without_blobs_takes_the_verbatim_path(parameters: dict[str, Any]) -> None:
    body = verbatim_body(parameters, body_check(UPDATE_ITEM.input_shape))
    if any(f'"{key}": ' in json.dumps(parameters) for key in ("B", "BS")):
        assert body is None  # a look-alike map key: the slow path, never a wrong body
    else:
        assert body == botocore_request(parameters)["body"]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ({"B": b"\x00\x01"}, "bytes are base64-encoded by botocore"),
        ({"B": "text"}, "botocore base64-encodes a str given as a blob too"),
        ({"BS": ["YQ=="]}, "a blob set"),
        ({"N": Decimal("1")}, "JSON cannot hold a Decimal"),
    ],
)
def test_values_only_botocore_can_serialize_take_its_path(value: dict[str, Any], why: str) -> None:
    parameters = {
        "TableName": "t",
        "Key": {"ExecutionId": {"S": "e"}},
        "ExpressionAttributeValues": {":v": value},
    }
    assert verbatim_body(parameters, body_check(UPDATE_ITEM.input_shape)) is None, why
    if not isinstance(value.get("N"), Decimal):
        expected = botocore_request(parameters)
        assert VerbatimJSONSerializer().serialize_to_request(parameters, UPDATE_ITEM) == expected


def test_dynamodbs_item_operations_carry_blobs_only_under_b_and_bs() -> None:
    for operation in ("UpdateItem", "PutItem", "GetItem", "Query", "DeleteItem", "BatchWriteItem"):
        assert converted_members(DYNAMODB.operation_model(operation).input_shape) == {"B", "BS"}, operation


def test_timestamps_are_converted_members_and_a_body_holding_one_takes_botocores_path() -> None:
    list_backups = DYNAMODB.operation_model("ListBackups")
    assert converted_members(list_backups.input_shape) == {"TimeRangeLowerBound", "TimeRangeUpperBound"}
    check = body_check(list_backups.input_shape)
    assert check.allows(b'{"TableName": "t"}')
    assert not check.allows(b'{"TableName": "t", "TimeRangeLowerBound" : 5}')


def shape(definitions: dict[str, Any]) -> Shape:
    return ShapeResolver(definitions).get_shape_by_name("In")


def test_a_blob_under_a_map_key_cannot_be_seen_in_the_body_so_the_shape_is_not_verbatim() -> None:
    definitions = {
        "In": {"type": "structure", "members": {"Blobs": {"shape": "Map"}}},
        "Map": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Blob"}},
        "Str": {"type": "string"},
        "Blob": {"type": "blob"},
    }
    assert converted_members(shape(definitions)) is None


def test_a_renamed_member_is_not_verbatim_and_a_double_is_a_converted_member() -> None:
    definitions = {
        "In": {"type": "structure", "members": {"Renamed": {"shape": "Str", "locationName": "other"}}},
        "Str": {"type": "string"},
    }
    assert converted_members(shape(definitions)) is None
    definitions = {
        "In": {"type": "structure", "members": {"Ratio": {"shape": "Dbl"}}},
        "Dbl": {"type": "double"},
    }
    assert converted_members(shape(definitions)) == {"Ratio"}


def test_an_empty_request_is_left_to_botocore() -> None:
    assert verbatim_body({}, body_check(UPDATE_ITEM.input_shape)) is None


async def test_only_an_unvalidated_json_client_gets_the_verbatim_serializer() -> None:
    session = aioboto3.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    unvalidated = Config(parameter_validation=False)
    async with session.client("dynamodb", endpoint_url="http://127.0.0.1:9", config=unvalidated) as fast:
        assert use_verbatim_serializer(fast)
        assert isinstance(fast._serializer, VerbatimJSONSerializer)
    async with session.client("dynamodb", endpoint_url="http://127.0.0.1:9") as validating:
        assert not use_verbatim_serializer(validating)
    async with session.client("drs", endpoint_url="http://127.0.0.1:9", config=unvalidated) as rest:
        assert not use_verbatim_serializer(rest)
