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


# --- UpdateItem: the parse cache, the validator's remembered checks, item size/copy/convert ---

SAVE_NAMES = {
    "#v": "Version",
    "#waves": "Waves",
    "#pending": "PendingWaves",
    "#lo": "LeaseOwner",
    "#le": "LeaseExpiry",
    "#a0": "s",
    "#a1": "LastPolledTime",
    "#a2": "EndTime",
    "#a3": "TimeoutDetected",
}
# ExecutionStore.save's shape (poller.write.save_request): the same strings every call, only the values change.
SAVE_EXPRESSION = "SET #v = :next, #waves = :waves, #pending = :pending, #le = :expiry, #a0 = :a0, #a1 = :a1 REMOVE #a2, #a3"
SAVE_CONDITION = "#v = :expected AND #lo = :owner"


def save_values(expected: int, owner: str, status: str, server_status: str) -> dict[str, Any]:
    waves = execution_item(0)["Waves"]
    for wave in waves["L"]:
        for server in wave["M"]["Servers"]["L"]:
            server["M"]["Status"] = {"S": server_status}
    return {
        ":expected": {"N": str(expected)},
        ":next": {"N": str(expected + 1)},
        ":waves": waves,
        ":pending": {"L": [{"N": "1"}]},
        ":owner": {"S": owner},
        ":expiry": {"N": f"{1000 + expected}.5"},
        ":a0": {"S": status},
        ":a1": {"N": str(expected * 7)},
    }


# (UpdateExpression, ExpressionAttributeNames or None, ExpressionAttributeValues or None), on
# item "a"; the same expression string recurs with names and values that pass and that fail.
UPDATES: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("SET #x = :v", {"#x": "fresh"}, {":v": {"S": "1"}}),
    ("SET #x = :v", {"#x": "k"}, {":v": {"S": "1"}}),  # a key attribute: refused
    ("SET #x = :v", {"#x": "other"}, {":v": {"L": [{"S": "x"}, {"M": {"y": {"N": "2"}}}]}}),
    ("SET #x = :v", {"#x": "k"}, {":v": {"S": "2"}}),  # refused again, after a pass
    ("SET #a = :v, #b = :v", {"#a": "d", "#b": "d"}, {":v": {"S": "x"}}),  # the same path twice
    ("SET #a = :v, #b = :v", {"#a": "d", "#b": "e"}, {":v": {"S": "x"}}),
    ("SET #a = :v, #b = :v", {"#a": "e", "#b": "e"}, {":v": {"S": "y"}}),
    ("SET a = :v SET b = :v", None, {":v": {"S": "x"}}),  # two SET clauses
    ("SET a = :v SET b = :v", None, {":v": {"S": "x"}}),
    ("SET a = :v REMOVE b REMOVE c", None, {":v": {"S": "x"}}),
    ("SET a = ", None, {":v": {"S": "x"}}),  # syntax errors
    ("SET a == :v", None, {":v": {"S": "x"}}),
    ("REMOVE", None, None),
    ("FOO a = :v", None, {":v": {"S": "x"}}),
    ("   ", None, None),
    ("SET a = :missing", None, {":v": {"S": "x"}}),
    ("SET a = :v", {"#unused": "q"}, {":v": {"S": "x"}}),
    ("SET a = :v", None, {":v": {"S": "x"}, ":unused": {"S": "y"}}),
    ("SET nope.x = :v", None, {":v": {"S": "x"}}),  # paths into nothing
    ("SET l[1].x = :v", None, {":v": {"S": "x"}}),
    ("SET l[1].k = :v", None, {":v": {"S": "x"}}),
    ("SET n = n + :v", None, {":v": {"S": "x"}}),  # wrong operand type
    ("SET n = n + :v", None, {":v": {"N": "2"}}),
    ("SET n = n - :v, l = list_append(l, :l)", None, {":v": {"N": "1"}, ":l": {"L": [{"S": "z"}]}}),
    ("SET q = if_not_exists(q, :v), m.nest[0] = :v", None, {":v": {"S": "new"}}),
    ("SET q = if_not_exists(q, :v), m.nest[0] = :v", None, {":v": {"S": "newer"}}),
    (
        "ADD ns :ns, counter :one DELETE ss :ss",
        None,
        {":ns": {"NS": ["7"]}, ":one": {"N": "1"}, ":ss": {"SS": ["x"]}},
    ),
    ("REMOVE l[0], l[2], m.nest[1], empty_s", None, None),
    ("SET #st = :big", {"#st": "blob"}, {":big": {"S": "x" * 404_000}}),  # item too large
    ("SET big_s = :big", None, {":big": {"S": "é" * 150_000}}),
    ("SET big_s = :big", None, {":big": {"S": "é" * 250_000}}),
]

# (ConditionExpression, values) for "SET c = :c": passing, failing and unparseable.
CONDITIONS: list[tuple[str, dict[str, Any]]] = [
    ("attribute_exists(k) AND n > :low", {":low": {"N": "0"}}),
    ("attribute_exists(k) AND n > :low", {":low": {"N": "1000"}}),
    ("size(l) = :two OR contains(ss, :y)", {":two": {"N": "2"}, ":y": {"S": "y"}}),
    ("NOT attribute_not_exists(m.nest[0]) AND (n BETWEEN :a AND :b)", {":a": {"N": "0"}, ":b": {"N": "9"}}),
    ("n IN (:a, :b)", {":a": {"N": "1"}, ":b": {"N": "2"}}),
    ("n = = :a", {":a": {"N": "1"}}),
    ("attribute_exists(", {}),
    ("n = :a AND", {":a": {"N": "1"}}),
]


def run_update_corpus(client: Any, errors: list[str]) -> None:
    """UpdateItems that pass, fail their condition and fail validation; then the stored items."""

    def attempt(**params: Any) -> None:
        try:
            client.update_item(**params)
        except ClientError as err:  # the response itself is recorded
            errors.append(err.response["Error"]["Code"])
        except Exception as err:  # moto raising in-process, e.g. for an unparseable condition
            errors.append(f"{type(err).__name__}: {err}")

    create_tables(client)
    client.put_item(TableName="t", Item={**FULL_ITEM, "k": {"S": "a"}})
    for i in range(2):
        client.put_item(
            TableName="t", Item={**execution_item(i), "Version": {"N": "0"}, "LeaseOwner": {"S": "me"}}
        )
    for expression, names, values in UPDATES:
        params: dict[str, Any] = {"TableName": "t", "Key": {"k": {"S": "a"}}, "UpdateExpression": expression}
        if names is not None:
            params["ExpressionAttributeNames"] = names
        if values is not None:
            params["ExpressionAttributeValues"] = values
        attempt(**params, ReturnValues="UPDATED_NEW")
    for condition, values in CONDITIONS:
        for return_values in ("ALL_NEW", "UPDATED_OLD"):
            attempt(
                TableName="t",
                Key={"k": {"S": "a"}},
                UpdateExpression="SET c = :c",
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, ":c": {"S": return_values}},
                ReturnValues=return_values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
    # The daemon's save: in turn passing, stale, not the owner, and on an item that is missing.
    saves = [
        ("exec-00000", 0, "me", "POLLING", "LAUNCHED"),
        ("exec-00000", 1, "me", "COMPLETED", "RECOVERED"),
        ("exec-00000", 1, "me", "POLLING", "PENDING"),  # stale version
        ("exec-00001", 0, "someone else", "POLLING", "LAUNCHED"),  # not the lease owner
        ("exec-00001", 0, "me", "POLLING", "FAILED"),
        ("exec-00009", 0, "me", "POLLING", "LAUNCHED"),  # no such item
    ]
    for key, expected, owner, status, server_status in saves:
        for return_values in ("NONE", "ALL_NEW", "UPDATED_NEW"):
            attempt(
                TableName="t",
                Key={"k": {"S": key}},
                UpdateExpression=SAVE_EXPRESSION,
                ConditionExpression=SAVE_CONDITION,
                ExpressionAttributeNames=SAVE_NAMES,
                ExpressionAttributeValues=save_values(expected, owner, status, server_status),
                ReturnValues=return_values,
            )
    attempt(  # creates the item
        TableName="t",
        Key={"k": {"S": "new"}},
        UpdateExpression="SET Waves = :w, n = :n",
        ConditionExpression="attribute_not_exists(k)",
        ExpressionAttributeValues={":w": execution_item(5)["Waves"], ":n": {"N": "1"}},
        ReturnValues="ALL_NEW",
    )
    with pytest.raises(ClientError):  # too large to store
        client.put_item(TableName="t", Item={"k": {"S": "big"}, "blob": {"S": "x" * 405_000}})
    client.put_item(TableName="t", Item={"k": {"S": "fits"}, "blob": {"S": "x" * 404_000}})
    # 1 + 4 + 4 + 404_991 bytes: exactly moto's limit, then one byte over it.
    client.put_item(TableName="t", Item={"k": {"S": "edge"}, "blob": {"S": "x" * 404_991}})
    with pytest.raises(ClientError):
        client.put_item(TableName="t", Item={"k": {"S": "edge"}, "blob": {"S": "x" * 404_992}})
    for key in ("a", "exec-00000", "exec-00001", "new", "fits", "big", "edge"):
        client.get_item(TableName="t", Key={"k": {"S": key}}, ConsistentRead=True)
    client.scan(TableName="t")


@pytest.mark.usefixtures("restore_speedups")
def test_update_item_answers_and_stores_byte_for_byte_as_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    original_errors: list[str] = []
    fast_errors: list[str] = []
    local_moto_speedups.uninstall()
    original = recorded_responses(lambda client: run_update_corpus(client, original_errors), monkeypatch)
    local_moto_speedups.install()
    fast = recorded_responses(lambda client: run_update_corpus(client, fast_errors), monkeypatch)

    assert fast_errors == original_errors
    # The corpus reaches each kind of outcome: a cache that mixed requests up would show here.
    assert {"ValidationException", "ConditionalCheckFailedException"} <= set(original_errors)
    assert any(error.startswith("ValueError") for error in original_errors)
    assert len(fast) == len(original)
    for before, after in zip(original, fast, strict=True):
        if before[0] == "CreateTable":
            continue
        assert comparable(after) == comparable(before)
    statuses = [status for operation, status, *_ in original if operation == "UpdateItem"]
    assert statuses.count(200) >= 20 and statuses.count(400) >= 20


def ast_shape(node: Any) -> Any:
    """An AST as nested tuples: class, children and whether each child's parent link is right."""
    from moto.dynamodb.parsing.ast_nodes import Node  # type: ignore[attr-defined]

    if not isinstance(node, Node):
        return node
    children = node.children or []
    links = tuple(getattr(child, "parent", node) is node for child in children)
    return type(node).__name__, tuple(ast_shape(child) for child in children), links


@pytest.mark.usefixtures("restore_speedups")
def test_cached_update_expression_ast_is_shared_and_never_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    local_moto_speedups.install()
    ast = UpdateExpressionParser.make(SAVE_EXPRESSION)
    shape = ast_shape(ast)
    local_moto_speedups.uninstall()
    assert shape == ast_shape(UpdateExpressionParser.make(SAVE_EXPRESSION))  # moto's own parse
    local_moto_speedups.install()
    recorded_responses(lambda client: run_update_corpus(client, []), monkeypatch)  # caches anew
    cached = UpdateExpressionParser.make(SAVE_EXPRESSION)
    assert UpdateExpressionParser.make(SAVE_EXPRESSION) is cached
    assert ast_shape(cached) == shape  # the validator rewrote its own copies only
    with pytest.raises(Exception, match="Syntax error"):
        UpdateExpressionParser.make("SET a = ")
    with pytest.raises(Exception, match="Syntax error"):  # not cached: raises again
        UpdateExpressionParser.make("SET a = ")


@pytest.mark.usefixtures("restore_speedups")
def test_read_only_update_checks_run_once_per_expression_and_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.parsing import validators

    runs: list[str] = []
    for name in ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator"):
        cls = getattr(validators, name)

        def counting(self: Any, node: Any, _name: str = name, _traverse: Any = cls.traverse) -> Any:
            runs.append(_name)
            return _traverse(self, node)

        monkeypatch.setattr(cls, "traverse", counting, raising=False)

    def saves(client: Any) -> None:
        create_tables(client)
        client.put_item(
            TableName="t", Item={**execution_item(0), "Version": {"N": "0"}, "LeaseOwner": {"S": "me"}}
        )
        for expected, names in ((0, SAVE_NAMES), (1, SAVE_NAMES), (2, {**SAVE_NAMES, "#a1": "Elsewhere"})):
            client.update_item(
                TableName="t",
                Key={"k": {"S": "exec-00000"}},
                UpdateExpression=SAVE_EXPRESSION,
                ConditionExpression=SAVE_CONDITION,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=save_values(expected, "me", "POLLING", "LAUNCHED"),
            )

    local_moto_speedups.uninstall()
    recorded_responses(saves, monkeypatch)
    assert len(runs) == 9  # moto: all three checks on every call
    runs.clear()
    local_moto_speedups.install()
    recorded_responses(saves, monkeypatch)
    # The first call runs all three; other names re-run the two checks that read the names.
    assert runs == [
        "ActionCountValidator",
        "OverlappingPathsValidator",
        "UpdateHashRangeKeyValidator",
        "OverlappingPathsValidator",
        "UpdateHashRangeKeyValidator",
    ]


def attribute_values() -> list[dict[str, Any]]:
    """Every attribute of FULL_ITEM and of an execution item, plus odd corners."""
    odd = [
        {"S": "é" * 3},
        {"N": "-0.000001"},
        {"BOOL": True},
        {"L": [{"NULL": True}, {"BS": [b""]}]},
        {"M": {"é": {"S": ""}}},
    ]
    return [*FULL_ITEM.values(), *execution_item(3).values(), *odd]


@pytest.mark.usefixtures("restore_speedups")
def test_dynamo_type_construct_size_copy_and_convert_equal_motos() -> None:
    import copy

    from moto.dynamodb.models.dynamo_type import DynamoType

    def observe(value: dict[str, Any]) -> tuple[Any, ...]:
        built = DynamoType(value)
        rebuilt = DynamoType(built)
        copied = copy.deepcopy(built)
        assert copied is not built and copied == built
        return (
            built.to_json(),
            rebuilt.to_json(),
            built.size(),
            copied.to_regular_json(),
            built.to_regular_json(),
            repr(copied),
        )

    local_moto_speedups.uninstall()
    original = [observe(value) for value in attribute_values()]
    local_moto_speedups.install()
    assert [observe(value) for value in attribute_values()] == original


@pytest.mark.usefixtures("restore_speedups")
def test_request_parsing_equals_motos() -> None:
    import base64
    import json

    from moto.core.parse import JSONParser
    from moto.core.utils import get_service_model

    operation = get_service_model("dynamodb").operation_model("PutItem")
    item = {
        **FULL_ITEM,
        "k": {"S": "a"},
        "two_keys": {"S": "x", "N": "1"},  # not a valid AttributeValue: moto keeps what it keeps
        "unknown": {"X": "1"},
        "null_member": {"S": None},
        "empty": {},
        "nested": {"L": [{"M": {"two": {"S": "x", "BOOL": True}, "z": {"Q": 1}}}]},
    }
    body = json.dumps(
        {"TableName": "t", "Item": item, "ExpressionAttributeValues": {":v": {"B": "AAE="}}},
        default=lambda blob: base64.b64encode(blob).decode(),
    ).encode()

    def parse() -> Any:
        return JSONParser(operation, map_type=dict).parse({"body": body, "headers": {}, "method": "POST"})

    local_moto_speedups.uninstall()
    original = parse()
    local_moto_speedups.install()
    fast = parse()
    assert fast == original
    assert json.dumps(fast, default=repr) == json.dumps(original, default=repr)  # key order too


@pytest.mark.usefixtures("restore_speedups")
def test_moto_modules_are_listed_once() -> None:
    from moto import backends

    local_moto_speedups.uninstall()
    original = list(backends.list_of_moto_modules())
    local_moto_speedups.install()
    assert list(backends.list_of_moto_modules()) == original
    assert "dynamodb" in backends.list_of_moto_modules()
    assert list(backends.list_of_moto_modules()) == original  # a fresh iterator every call
