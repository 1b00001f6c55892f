"""The moto speed-ups change how fast the local stand-in answers, never what it answers."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from poller import local_moto_speedups
from poller.local import LOCAL_CREDENTIALS

Response = tuple[str, int, dict[str, str], bytes]

# Every attribute type, nested, empty and unicode values; bytes that are not valid UTF-8.
FULL_ITEM: dict[str, Any] = {
    "s": {"S": "P"},
    "n": {"N": "1.50"},
    "big": {"N": "-12345678901234567890.123456789"},
    "b": {"B": b"\x00\xff binary"},
    "ss": {"SS": ["x", "y", "é"]},
    "ns": {"NS": ["1", "2.5", "-3"]},
    "bs": {"BS": [b"\x01", b"\x02\xfe"]},
    "m": {
        "M": {
            "nest": {
                "L": [
                    {"S": "first"},
                    {"NULL": True},
                    {"BOOL": False},
                    {"M": {}},
                    {"L": []},
                    {"B": b"z"},
                    {"M": {"deep": {"M": {"x": {"N": "7"}, "y": {"SS": ["a"]}}}}},
                ]
            },
            "flag": {"BOOL": True},
            "nothing": {"NULL": True},
        }
    },
    "l": {"L": [{"S": "l0"}, {"M": {"k": {"N": "1"}, "v": {"BS": [b"\x00"]}}}, {"N": "2"}]},
    "null": {"NULL": True},
    "yes": {"BOOL": True},
    "no": {"BOOL": False},
    "empty_s": {"S": ""},
    "empty_l": {"L": []},
    "empty_m": {"M": {}},
    "unicode": {"S": 'é ü ☃ 😀 "quoted" \\ \n tab\t'},
    "unicode_key_é": {"S": "value"},
}


def execution_item(i: int) -> dict[str, Any]:
    """Our own item shape: 2 waves x 5 servers."""
    waves = []
    for w in range(2):
        servers = [
            {
                "M": {
                    "SourceServerId": {"S": f"s-{w}{k:016d}"},
                    "RecoveryJobId": {"S": "drsjob-aaaaaaaaaaaaaaaaa"},
                    "Status": {"S": "PENDING"},
                    "PollAttempts": {"N": "3"},
                    "LastPolledTime": {"N": "5"},
                }
            }
            for k in range(5)
        ]
        waves.append(
            {"M": {"WaveName": {"S": f"w{w}"}, "Status": {"S": "LAUNCHING"}, "Servers": {"L": servers}}}
        )
    return {
        "k": {"S": f"exec-{i:05d}"},
        "s": {"S": "POLLING"},
        "n": {"N": str(1000 + i)},
        "Version": {"N": "1"},
        "Waves": {"L": waves},
    }


def create_tables(client: Any) -> None:
    client.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "k", "AttributeType": "S"},
            {"AttributeName": "s", "AttributeType": "S"},
            {"AttributeName": "n", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "Idx",
                "KeySchema": [
                    {"AttributeName": "s", "KeyType": "HASH"},
                    {"AttributeName": "n", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": "Keys",
                "KeySchema": [{"AttributeName": "s", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(
        TableName="c",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def run_corpus(client: Any) -> None:
    """Requests covering every patched operation; responses are captured by the caller."""
    create_tables(client)
    t = "t"
    key_a = {"k": {"S": "a"}}
    client.put_item(TableName=t, Item={**FULL_ITEM, **key_a})
    client.put_item(
        TableName=t, Item={**FULL_ITEM, "k": {"S": "b"}, "n": {"N": "2"}}, ReturnConsumedCapacity="TOTAL"
    )
    for capacity in ("TOTAL", "INDEXES", "NONE"):
        client.put_item(
            TableName=t,
            Item={**FULL_ITEM, "k": {"S": "b"}, "n": {"N": "2"}},
            ReturnValues="ALL_OLD",
            ReturnConsumedCapacity=capacity,
            ReturnItemCollectionMetrics="SIZE",
        )
    for i in range(3):
        client.put_item(TableName=t, Item=execution_item(i))
    for i in range(4):
        client.put_item(TableName="c", Item={"pk": {"S": "p"}, "sk": {"N": str(i)}, "m": FULL_ITEM["m"]})

    client.get_item(TableName=t, Key=key_a)
    client.get_item(TableName=t, Key=key_a, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    client.get_item(TableName=t, Key={"k": {"S": "missing"}})
    client.get_item(TableName=t, Key={"k": {"S": "missing"}}, ReturnConsumedCapacity="INDEXES")
    client.get_item(
        TableName=t,
        Key=key_a,
        ProjectionExpression="m.nest[0], l[1], #n, b, m.nest[6].deep.x, nope, l[9]",
        ExpressionAttributeNames={"#n": "n"},
    )
    client.get_item(
        TableName=t, Key={"k": {"S": "exec-00001"}}, ProjectionExpression="Waves[1].Servers[4].Status"
    )

    updates = [
        (
            "SET n = n + :one, q = :b, m.nest[0] = :s",
            {":one": {"N": "1"}, ":b": {"B": b"qq"}, ":s": {"S": "new"}},
        ),
        ("SET l[1].k = :one REMOVE empty_s ADD ns :ns", {":one": {"N": "1"}, ":ns": {"NS": ["9"]}}),
        ("SET Waves[0].Servers[2].#st = :s", {":s": {"S": "LAUNCHED"}}),
    ]
    for return_values in ("NONE", "ALL_NEW", "ALL_OLD", "UPDATED_NEW", "UPDATED_OLD"):
        for expression, values in updates:
            key = {"k": {"S": "exec-00002"}} if "Waves" in expression else key_a
            client.update_item(
                TableName=t,
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues=values,
                **({"ExpressionAttributeNames": {"#st": "Status"}} if "#st" in expression else {}),
                ReturnValues=return_values,
            )
    client.update_item(
        TableName=t,
        Key={"k": {"S": "exec-00000"}},
        UpdateExpression="SET Version = :next",
        ConditionExpression="Version = :v",
        ExpressionAttributeValues={":v": {"N": "1"}, ":next": {"N": "2"}},
        ReturnValues="ALL_NEW",
        ReturnConsumedCapacity="TOTAL",
    )
    with pytest.raises(ClientError):
        client.update_item(
            TableName=t,
            Key=key_a,
            UpdateExpression="SET n = :one",
            ConditionExpression="n = :zero",
            ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )

    by_status = {
        "KeyConditionExpression": "s = :p",
        "ExpressionAttributeValues": {":p": {"S": "P"}},
    }
    for extra in (
        {},
        {"Limit": 1},
        {"Select": "COUNT"},
        {"ProjectionExpression": "k, s, m.nest[0], l[1], #u", "ExpressionAttributeNames": {"#u": "unicode"}},
        {"ScanIndexForward": False, "ReturnConsumedCapacity": "TOTAL"},
        {"ReturnConsumedCapacity": "INDEXES"},
        {"FilterExpression": "attribute_exists(q)"},
    ):
        client.query(TableName=t, IndexName="Idx", **by_status, **extra)
    client.query(TableName=t, IndexName="Keys", **by_status)
    client.query(
        TableName=t,
        IndexName="Idx",
        KeyConditionExpression="#s = :p",
        ExpressionAttributeNames={"#s": "s"},
        ExpressionAttributeValues={":p": {"S": "POLLING"}},
        ProjectionExpression="k, #s, n",
    )
    client.query(TableName=t, KeyConditionExpression="k = :k", ExpressionAttributeValues={":k": {"S": "a"}})
    page = client.query(
        TableName="c", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}, Limit=2
    )
    client.query(
        TableName="c",
        KeyConditionExpression="pk = :p AND sk > :lo",
        ExpressionAttributeValues={":p": {"S": "p"}, ":lo": {"N": "0"}},
        ExclusiveStartKey=page["LastEvaluatedKey"],
        ProjectionExpression="sk, m.nest[6]",
    )

    client.scan(TableName=t)
    client.scan(TableName=t, Limit=1)
    client.scan(TableName=t, Select="COUNT")
    client.scan(TableName=t, FilterExpression="n > :x", ExpressionAttributeValues={":x": {"N": "100"}})
    client.scan(
        TableName=t,
        FilterExpression="contains(ss, :e) AND m.flag = :t",
        ExpressionAttributeValues={":e": {"S": "é"}, ":t": {"BOOL": True}},
        ProjectionExpression="k, ss, bs",
        ReturnConsumedCapacity="TOTAL",
    )
    client.scan(TableName="c")

    client.batch_get_item(
        RequestItems={
            t: {"Keys": [key_a, {"k": {"S": "b"}}, {"k": {"S": "nope"}}]},
            "c": {"Keys": [{"pk": {"S": "p"}, "sk": {"N": "1"}}, {"pk": {"S": "p"}, "sk": {"N": "99"}}]},
        }
    )
    client.batch_get_item(
        RequestItems={t: {"Keys": [key_a, {"k": {"S": "nope"}}], "ProjectionExpression": "k, l[1], m.flag"}},
        ReturnConsumedCapacity="TOTAL",
    )
    client.batch_write_item(
        RequestItems={
            t: [
                {"PutRequest": {"Item": {**FULL_ITEM, "k": {"S": "c"}}}},
                {"DeleteRequest": {"Key": {"k": {"S": "b"}}}},
            ]
        },
        ReturnConsumedCapacity="TOTAL",
    )
    client.batch_write_item(
        RequestItems={"c": [{"DeleteRequest": {"Key": {"pk": {"S": "p"}, "sk": {"N": "3"}}}}]}
    )
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": t, "Item": {**FULL_ITEM, "k": {"S": "d"}}}},
            {
                "Update": {
                    "TableName": t,
                    "Key": {"k": {"S": "c"}},
                    "UpdateExpression": "SET n = :n",
                    "ExpressionAttributeValues": {":n": {"N": "5"}},
                }
            },
            {"ConditionCheck": {"TableName": t, "Key": key_a, "ConditionExpression": "attribute_exists(k)"}},
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    client.transact_get_items(
        TransactItems=[
            {"Get": {"TableName": t, "Key": key_a}},
            {"Get": {"TableName": t, "Key": {"k": {"S": "nope"}}}},
            {"Get": {"TableName": t, "Key": {"k": {"S": "d"}}, "ProjectionExpression": "m.nest[6], bs"}},
        ],
        ReturnConsumedCapacity="TOTAL",
    )
    client.delete_item(TableName=t, Key=key_a, ReturnValues="ALL_OLD", ReturnConsumedCapacity="TOTAL")
    client.delete_item(TableName=t, Key=key_a)
    client.delete_item(TableName=t, Key={"k": {"S": "c"}}, ReturnValues="ALL_OLD")


def recorded_responses(corpus: Callable[[Any], None], monkeypatch: pytest.MonkeyPatch) -> list[Response]:
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    responses: list[Response] = []

    def record(http_response: Any, model: Any, **_: Any) -> None:
        responses.append(
            (model.name, http_response.status_code, dict(http_response.headers), http_response.content)
        )

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.meta.events.register("after-call.dynamodb", record)
        corpus(client)
    return responses


@pytest.fixture
def restore_speedups() -> Iterator[None]:
    """Leave the process as the test found it (the in-process moto server installs them too)."""
    was_installed = local_moto_speedups.is_installed()
    yield
    if was_installed:
        local_moto_speedups.install()
    else:
        local_moto_speedups.uninstall()


def comparable(response: Response) -> Response:
    operation, status, headers, body = response
    varying = {"date", "x-amzn-requestid"}
    return operation, status, {k: v for k, v in headers.items() if k.lower() not in varying}, body


@pytest.mark.usefixtures("restore_speedups")
def test_responses_are_byte_for_byte_those_of_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    local_moto_speedups.uninstall()
    original = recorded_responses(run_corpus, monkeypatch)
    local_moto_speedups.install()
    fast = recorded_responses(run_corpus, monkeypatch)

    operations = {operation for operation, *_ in original}
    assert operations >= local_moto_speedups.FAST_OPERATIONS
    assert len(fast) == len(original)
    for before, after in zip(original, fast, strict=True):
        if before[0] not in local_moto_speedups.FAST_OPERATIONS:
            assert after[:2] == before[:2]  # CreateTable: timestamps differ between the runs
            continue
        # Status, Content-Type, x-amz-crc32 and the body's exact bytes (so also int vs float).
        assert comparable(after) == comparable(before)
        if before[1] == 200:  # errors do not reach the serializer; moto sends application/json
            assert after[2]["Content-Type"] == "application/x-amz-json-1.0"


@pytest.mark.usefixtures("restore_speedups")
def test_install_is_idempotent_and_uninstall_restores_moto() -> None:
    from moto.core.responses import ActionResult
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult

    local_moto_speedups.uninstall()
    original_project = Item.project
    local_moto_speedups.install()
    local_moto_speedups.install()
    assert DynamoResult.execute_result is not ActionResult.execute_result
    assert Item.project is not original_project
    local_moto_speedups.uninstall()
    assert DynamoResult.execute_result is ActionResult.execute_result
    assert Item.project is original_project


def picked_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Keys moto's serializer looks up, one entry per model attribute it walks."""
    from moto.core.serialize import XFormedAttributePicker

    keys: list[str] = []
    walk = XFormedAttributePicker.__call__

    def counting(self: Any, context: Any) -> Any:
        keys.append(context.key)
        return walk(self, context)

    monkeypatch.setattr(XFormedAttributePicker, "__call__", counting)
    return keys


@pytest.mark.usefixtures("restore_speedups")
def test_item_payloads_skip_the_attribute_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = picked_keys(monkeypatch)

    def get(client: Any) -> None:
        create_tables(client)
        client.put_item(TableName="t", Item=execution_item(0))
        keys.clear()
        client.get_item(TableName="t", Key={"k": {"S": "exec-00000"}})

    local_moto_speedups.uninstall()
    recorded_responses(get, monkeypatch)
    assert "S" in keys and "M" in keys  # moto walks each AttributeValue
    local_moto_speedups.install()
    recorded_responses(get, monkeypatch)
    assert keys == ["Item", "ConsumedCapacity"]  # only GetItemOutput's own members


@pytest.mark.usefixtures("restore_speedups")
def test_projection_converts_only_the_named_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    whole_item_conversions: list[int] = []
    to_regular_json = Item.to_regular_json

    def counting(self: Item) -> dict[str, Any]:
        whole_item_conversions.append(1)
        return to_regular_json(self)

    monkeypatch.setattr(Item, "to_regular_json", counting)
    local_moto_speedups.install()
    item = Item(hash_key=DynamoType({"S": "a"}), range_key=None, attrs={**FULL_ITEM, "k": {"S": "a"}})
    projected = item.project([["k"], ["l[1]", "k"], ["m", "nest[6]", "deep"], ["absent"]])
    assert projected.to_json()["Attributes"] == {
        "k": {"S": "a"},
        "l": {"L": [{"M": {"k": {"N": "1"}}}]},
        "m": {"M": {"nest": {"L": [{"M": {"deep": FULL_ITEM["m"]["M"]["nest"]["L"][6]["M"]["deep"]}}]}}},
    }
    assert whole_item_conversions == []


PROJECTIONS = [
    [["k"]],
    [["absent"]],
    [["b"], ["bs"], ["ss"], ["ns"], ["null"], ["yes"], ["empty_s"], ["empty_l"], ["empty_m"]],
    [["m", "nest[0]"], ["l[1]"], ["n"]],
    [["m"], ["m", "nest[2]"]],
    [["m"], ["m", "nest[2]"], ["m", "nest[3]"]],  # merge_dicts clobbers m.nest in its source dict
    [["m", "nest[2]"], ["m"]],
    [["l"], ["l[1]", "k"], ["l[0]"]],
    [["l[1]", "k"], ["l"], ["l[2]"], ["l[1]", "v"]],
    [["m", "nest[6]", "deep", "x"], ["m", "nest[6]", "deep", "y"], ["m", "flag"]],
    [["m", "nest[9]"], ["l[3]"], ["k[0]"], ["m", "nope", "x"], ["unicode_key_é"]],
    [["m", "nest"], ["m", "nest[1]"], ["m", "nest[5]"]],
]


@pytest.mark.usefixtures("restore_speedups")
@pytest.mark.parametrize("expressions", PROJECTIONS, ids=lambda e: "|".join(".".join(p) for p in e))
def test_projection_equals_motos(expressions: list[list[str]]) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    def project() -> tuple[list[str], dict[str, Any]]:
        item = Item(hash_key=DynamoType({"S": "a"}), range_key=None, attrs={**FULL_ITEM, "k": {"S": "a"}})
        projected = item.project(expressions)
        assert projected.hash_key == item.hash_key and projected.range_key is None
        return list(projected.attrs), projected.to_json()  # attribute order too

    local_moto_speedups.uninstall()
    original = project()
    local_moto_speedups.install()
    assert project() == original


def dynamo_context(operation: str) -> Any:
    from moto.core.responses import ActionContext
    from moto.core.serialize import JSONSerializer
    from moto.core.utils import get_service_model
    from moto.dynamodb.responses import DynamoHandler

    service = get_service_model("dynamodb")
    return ActionContext(service, service.operation_model(operation), JSONSerializer, DynamoHandler())


@pytest.mark.usefixtures("restore_speedups")
@pytest.mark.parametrize(
    "odd_value",
    [datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC), {1, 2}, object()],
    ids=["datetime", "set", "object"],
)
def test_a_result_json_cannot_encode_plainly_gets_motos_serializer(odd_value: Any) -> None:
    from moto.dynamodb.responses import DynamoResult

    result = {"Item": {"k": {"S": "a"}, "odd": {"S": odd_value}, "b": {"B": b"\x00"}}}
    local_moto_speedups.uninstall()
    expected = DynamoResult(result).execute_result(dynamo_context("GetItem"))
    local_moto_speedups.install()
    assert DynamoResult(result).execute_result(dynamo_context("GetItem")) == expected
    assert str(odd_value) in expected[2]  # moto's own str() of the value, not a crash


@pytest.mark.usefixtures("restore_speedups")
def test_prettified_responses_stay_byte_for_byte_those_of_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings
    from moto.dynamodb.responses import DynamoResult

    monkeypatch.setattr(settings, "PRETTIFY_RESPONSES", True)
    result = {"Items": [{**FULL_ITEM, "k": {"S": "a"}}], "Count": 1, "ScannedCount": 1}
    local_moto_speedups.uninstall()
    expected = DynamoResult(result).execute_result(dynamo_context("Query"))
    local_moto_speedups.install()
    assert DynamoResult(result).execute_result(dynamo_context("Query")) == expected
    assert expected[2].startswith('{\n    "Items"')


@pytest.mark.usefixtures("restore_speedups")
def test_other_operations_keep_motos_serializer(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = picked_keys(monkeypatch)

    def describe(client: Any) -> None:
        create_tables(client)
        keys.clear()
        client.describe_table(TableName="t")

    local_moto_speedups.install()
    responses = recorded_responses(describe, monkeypatch)
    assert responses[-1][0] == "DescribeTable" and responses[-1][1] == 200
    assert "TableName" in keys  # walked by moto's serializer, timestamps and all
