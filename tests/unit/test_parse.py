"""The verbatim DescribeJobs parse returns exactly what botocore's shape walk returns."""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape, ShapeResolver
from botocore.parsers import JSONParser, RestJSONParser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poller.aws.parse import VerbatimJSONParser, VerbatimParserFactory, VerbatimRestJSONParser, loads_verbatim
from poller.aws.verbatim import body_check, is_verbatim
from tests.unit.dynamodb_values import attribute_values

DRS = botocore.session.get_session().get_service_model("drs")
DESCRIBE_JOBS = DRS.operation_model("DescribeJobs").output_shape


def shape_of(**members: dict[str, Any]) -> Shape:
    """An output structure ``Out`` whose member M has the shape definition ``members[M]``."""
    definitions: dict[str, Any] = {"Out": {"type": "structure", "members": {}}}
    for name, definition in members.items():
        serialization = definition.pop("member_serialization", {})
        definitions[f"{name}Shape"] = definition
        definitions["Out"]["members"][name] = {"shape": f"{name}Shape", **serialization}
    return ShapeResolver(definitions).get_shape_by_name("Out")


def values(shape: Shape) -> st.SearchStrategy[Any]:
    """JSON values DRS could send for ``shape`` (modeled members only, nulls where optional)."""
    kind = shape.type_name
    if kind == "string":
        enum = shape.metadata.get("enum")
        return st.sampled_from(enum) if enum else st.text(max_size=12)
    if kind in ("integer", "long"):
        return st.integers(-(2**40), 2**40)
    if kind == "boolean":
        return st.booleans()
    if kind == "list":
        return st.lists(st.deferred(lambda: values(shape.member)), max_size=3)  # type: ignore[attr-defined]
    if kind == "map":
        return st.dictionaries(st.text(max_size=6), st.deferred(lambda: values(shape.value)), max_size=3)  # type: ignore[attr-defined]
    members = shape.members  # type: ignore[attr-defined]
    if shape.metadata.get("union"):  # botocore insists on exactly one member
        return st.one_of(*(values(m).map(lambda v, n=n: {n: v}) for n, m in members.items()))
    optional = {name: st.one_of(st.none(), st.deferred(lambda m=m: values(m))) for name, m in members.items()}
    return st.fixed_dictionaries({}, optional=optional)


def botocore_parse(body: bytes, shape: Shape) -> dict[str, Any]:
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "r-1"}, "body": body}
    return RestJSONParser().parse(response, shape)


def test_describe_jobs_answers_take_the_verbatim_path() -> None:
    assert is_verbatim(DESCRIBE_JOBS)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=values(DESCRIBE_JOBS))
def test_verbatim_parse_equals_botocores_walk_for_any_describe_jobs_answer(answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    expected = botocore_parse(body, DESCRIBE_JOBS)
    expected.pop("ResponseMetadata")
    assert loads_verbatim(body) == expected


@pytest.mark.parametrize(
    ("definition", "why"),
    [
        ({"type": "timestamp"}, "botocore turns timestamps into datetimes"),
        ({"type": "double"}, "botocore turns 5 into 5.0"),
        ({"type": "float"}, "botocore turns 5 into 5.0"),
        ({"type": "blob"}, "botocore base64-decodes blobs"),
        ({"type": "structure", "members": {}, "document": True}, "documents are passed through as is"),
        ({"type": "string", "member_serialization": {"locationName": "other"}}, "a renamed member"),
        (
            {"type": "string", "member_serialization": {"location": "header", "locationName": "x-h"}},
            "a header",
        ),
        ({"type": "integer", "member_serialization": {"location": "statusCode"}}, "the status code"),
    ],
)
def test_shapes_botocore_transforms_are_not_verbatim(definition: dict[str, Any], why: str) -> None:
    assert not is_verbatim(shape_of(Field=definition)), why


def nested(leaf: str) -> Shape:
    """Out.Items: a list of structures whose one member has type ``leaf``."""
    return ShapeResolver(
        {
            "Out": {"type": "structure", "members": {"Items": {"shape": "List"}}},
            "List": {"type": "list", "member": {"shape": "Inner"}},
            "Inner": {"type": "structure", "members": {"Leaf": {"shape": "Leaf"}}},
            "Leaf": {"type": leaf},
        }
    ).get_shape_by_name("Out")


def test_a_transformed_member_deep_inside_a_list_makes_the_whole_shape_not_verbatim() -> None:
    assert is_verbatim(nested("string"))
    assert not is_verbatim(nested("timestamp"))


def test_no_output_shape_is_left_to_botocore() -> None:
    assert not is_verbatim(None)


def test_error_answers_still_go_through_botocore() -> None:
    parser = VerbatimParserFactory().create_parser("rest-json")
    assert isinstance(parser, VerbatimRestJSONParser)
    response = {
        "status_code": 429,
        "headers": {"x-amzn-errortype": "ThrottlingException:http://internal", "x-amzn-requestid": "r-2"},
        "body": json.dumps({"message": "Rate exceeded"}).encode(),
    }
    parsed = parser._do_error_parse(response, DESCRIBE_JOBS)
    assert parsed["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}


def test_other_protocols_get_aiobotocores_parser() -> None:
    assert not isinstance(
        VerbatimParserFactory().create_parser("query"), (VerbatimRestJSONParser, VerbatimJSONParser)
    )


def test_a_body_that_is_not_an_object_parses_to_nothing() -> None:
    assert loads_verbatim(b"") == {}
    assert loads_verbatim(b"[1, 2]") == {}


DYNAMODB = botocore.session.get_session().get_service_model("dynamodb")
QUERY_OUTPUT = DYNAMODB.operation_model("Query").output_shape
GET_ITEM_OUTPUT = DYNAMODB.operation_model("GetItem").output_shape
TRICKY_TEXT = st.one_of(st.text(max_size=8), st.sampled_from(['"B": ', 'x"BS":y', "null", "CapacityUnits"]))


def query_answers(with_blobs: bool, with_capacity: bool) -> st.SearchStrategy[dict[str, Any]]:
    base64_text = (lambda b: base64.b64encode(b).decode()) if with_blobs else None  # as DynamoDB sends
    item = st.dictionaries(
        TRICKY_TEXT, attribute_values(TRICKY_TEXT, blob=base64_text), min_size=1, max_size=4
    )
    optional: dict[str, st.SearchStrategy[Any]] = {"LastEvaluatedKey": item}
    if with_capacity:
        optional["ConsumedCapacity"] = st.builds(
            lambda units: {"TableName": "t", "CapacityUnits": units}, st.integers(0, 100) | st.floats(0, 100)
        )
    return st.fixed_dictionaries(
        {"Items": st.lists(item, max_size=4), "Count": st.integers(0, 5), "ScannedCount": st.integers(0, 5)},
        optional=optional,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=query_answers(with_blobs=True, with_capacity=True))
def test_dynamodb_answers_parse_exactly_as_botocore_parses_them(answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    assert VerbatimJSONParser()._handle_json_body(body, QUERY_OUTPUT) == JSONParser()._handle_json_body(
        body, QUERY_OUTPUT
    )


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=query_answers(with_blobs=False, with_capacity=False))
def test_a_dynamodb_answer_without_blobs_or_capacity_takes_the_verbatim_path(answer: dict[str, Any]) -> None:
    body = json.dumps(answer).encode()
    looks_converted = any(f'"{key}":' in body.decode() for key in ("B", "BS", "CapacityUnits"))
    assert body_check(QUERY_OUTPUT).allows(body) is not looks_converted


def test_an_item_with_a_blob_is_base64_decoded_by_botocores_path() -> None:
    body = json.dumps({"Item": {"ExecutionId": {"S": "e"}, "Raw": {"B": "AP8="}}}).encode()
    parsed = VerbatimJSONParser()._handle_json_body(body, GET_ITEM_OUTPUT)
    assert parsed["Item"]["Raw"]["B"] == b"\x00\xff"


def test_the_factory_gives_dynamodb_clients_the_verbatim_json_parser() -> None:
    assert isinstance(VerbatimParserFactory().create_parser("json"), VerbatimJSONParser)
