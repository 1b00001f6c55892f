"""Micro-benchmark: moto's cost per DynamoDB call on our item shape, with and without speed-ups.

The local stand-in (demo, integration tests, benchmarks) is moto; ``poller.local_moto_speedups``
patches its response serializer and ``Item.project``. This times, in-process (``mock_aws``, no
HTTP), the calls the daemon makes on execution items of 2 waves x 5 servers: PutItem, GetItem,
the conditional UpdateItem of a save, and the finder's projected Query over the StatusIndex
(per returned item), once with moto as shipped and once with the speed-ups, and the ratio.

    .venv/bin/python bench/micro_moto.py --items 200
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from moto import mock_aws

from bench.micro_poll import execution  # the same 10-server drill execution
from poller import local_moto_speedups
from poller.domain.model import execution_to_item
from poller.dynamodb import serialize
from poller.find import INDEX_ATTRIBUTES
from poller.local import use_local_credentials
from poller.tables import execution_table_definition

TABLE = "executions"
OPERATIONS = ("GetItem", "PutItem", "UpdateItem (conditional)", "Query projected, per item")


def per_call_ms(calls: list[Callable[[], Any]]) -> float:
    start = time.perf_counter()
    for call in calls:
        call()
    return (time.perf_counter() - start) / len(calls) * 1e3


def measure(items: int, servers: int) -> dict[str, float]:
    """ms per call of each operation on a fresh moto, whichever methods are installed now."""
    raw = [serialize(execution_to_item(execution(i, servers))) for i in range(items)]
    keys = [{"ExecutionId": item["ExecutionId"]} for item in raw]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**execution_table_definition(TABLE))
        result = {}
        result["PutItem"] = per_call_ms(
            [lambda item=item: client.put_item(TableName=TABLE, Item=item) for item in raw]
        )
        result["GetItem"] = per_call_ms(
            [lambda key=key: client.get_item(TableName=TABLE, Key=key, ConsistentRead=True) for key in keys]
        )

        def save(key: dict[str, Any], item: dict[str, Any]) -> None:
            client.update_item(
                TableName=TABLE,
                Key=key,
                UpdateExpression="SET #v = :next, #waves = :waves, #p = :polled",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "Version", "#waves": "Waves", "#p": "LastPolledTime"},
                ExpressionAttributeValues={
                    ":expected": {"N": "0"},
                    ":next": {"N": "1"},
                    ":waves": item["Waves"],
                    ":polled": {"N": "5"},
                },
            )

        result["UpdateItem (conditional)"] = per_call_ms(
            [lambda key=key, item=item: save(key, item) for key, item in zip(keys, raw, strict=True)]
        )

        names = {f"#a{i}": name for i, name in enumerate(INDEX_ATTRIBUTES)}
        params: dict[str, Any] = {
            "TableName": TABLE,
            "IndexName": "StatusIndex",
            "KeyConditionExpression": "#status = :status",
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": {"#status": "Status", **names},
            "ExpressionAttributeValues": {":status": {"S": "POLLING"}},
        }
        found = 0
        start = time.perf_counter()
        while True:
            page = client.query(**params)
            found += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        assert found == items, f"query found {found} of {items}"
        result["Query projected, per item"] = (time.perf_counter() - start) / items * 1e3
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=200, help="execution items to write and read (200)")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, over 2 waves (10)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is shown (2)")
    args = p.parse_args()
    use_local_credentials()
    was_installed = local_moto_speedups.is_installed()
    best: dict[bool, dict[str, float]] = {False: {}, True: {}}
    try:
        measure(5, args.servers)  # warm-up: imports, moto's model loading
        for _ in range(args.rounds):
            for speedups in (False, True):
                (local_moto_speedups.install if speedups else local_moto_speedups.uninstall)()
                for name, ms in measure(args.items, args.servers).items():
                    best[speedups][name] = min(ms, best[speedups].get(name, ms))
    finally:
        (local_moto_speedups.install if was_installed else local_moto_speedups.uninstall)()

    before, after = best[False], best[True]
    print(f"moto in-process, {args.items} items × {args.servers} servers over 2 waves")
    print(f"ms per call, best of {args.rounds} rounds")
    print(f"  {'':28} {'moto':>9} {'speed-ups':>10} {'ratio':>7}")
    for name in OPERATIONS:
        print(f"  {name:28} {before[name]:9.2f} {after[name]:10.2f} {before[name] / after[name]:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
