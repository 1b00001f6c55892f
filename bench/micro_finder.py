"""Micro-benchmark of the finder's per-item CPU: boto3's TypeDeserializer (``poller.store.dynamodb``).

Realistic items (10 servers in 2 waves, every attribute a launched server has), no I/O; also
times botocore's parsing of a 1,000-item Query page, which the finder pays before it.
Best of ``--repeat`` runs, so a noisy machine inflates the figures less.

With ``--moto-items N``, one finder pass (``poller.pipeline.find.query_request``, all pages) over N
POLLING items in an in-process moto, split into the seconds spent inside moto and the seconds
the finder's own side takes (botocore's parse and the deserialisation): the pass on real
DynamoDB costs the finder's side plus round trips.

    .venv/bin/python bench/micro_finder.py --items 10000 --moto-items 10000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from poller.store.dynamodb import deserialize, serialize


def item(i: int, servers: int = 10) -> dict[str, Any]:
    waves = []
    for r, region in enumerate(("us-east-1", "us-west-2")):
        waves.append(
            {
                "WaveName": f"Wave-{r + 1}",
                "Region": region,
                "Status": "LAUNCHING",
                "FailedServerIds": [],
                "Servers": [
                    {
                        "SourceServerId": f"s-{i:08d}{r}{k:08d}",
                        "RecoveryJobId": "drsjob-abcdefghijklmnopq",
                        "Status": "LAUNCHED",
                        "InstanceId": "i-0123456789abcdef0",
                        "LaunchedTime": Decimal("1764364993.789"),
                        "LastPolledTime": Decimal("1764364993.789"),
                        "PollAttempts": Decimal(12),
                        "TimeoutDetected": False,
                    }
                    for k in range(servers // 2)
                ],
            }
        )
    return {
        "ExecutionId": f"exec-{i:06d}",
        "PlanId": "p",
        "ExecutionType": "DRILL",
        "Status": "POLLING",
        "StartTime": Decimal("1764364793.123"),
        "Version": Decimal(7),
        "Waves": waves,
    }


def moto_pass(n: int) -> None:
    """One finder pass over ``n`` items in an in-process moto: inside moto vs the finder's side."""
    import boto3
    from moto import mock_aws

    from bench.micro_dynamodb import MotoClock, clock_moto
    from poller.pipeline.find import query_request
    from poller.runtime.responsiveness import Responsiveness
    from poller.store.tables import execution_table_definition

    with mock_aws(), clock_moto():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**execution_table_definition("executions"))
        for i in range(n):
            if i % 2000 == 0:
                print(f"  seeding moto: {i:,} of {n:,} items", file=sys.stderr)
            client.put_item(TableName="executions", Item=serialize(item(i)))
        params = query_request("executions", "StatusIndex", "POLLING")
        MotoClock.seconds = 0.0
        start = time.perf_counter()
        pages = found = 0
        deserializing = 0.0
        while True:
            page = client.query(**params)
            t = time.perf_counter()
            found += len([deserialize(x) for x in page["Items"]])
            deserializing += time.perf_counter() - t
            pages += 1
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        wall = time.perf_counter() - start
    assert found == n, f"the pass found {found} of {n}"
    inside = MotoClock.seconds
    print(
        f"finder pass over {n:,} items in moto ({pages} pages of ≤{Responsiveness.finder_page_items}): {wall:.2f} s"
    )
    print(f"  inside moto                      : {inside:.2f} s ({inside / pages * 1e3:.0f} ms per page)")
    print(
        f"  finder's side (parse+deserialize): {wall - inside:.2f} s (of which deserialize {deserializing:.2f} s)"
    )


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=10000, help="items deserialized (10000)")
    p.add_argument("--repeat", type=int, default=5, help="runs; the best is shown (5)")
    p.add_argument("--moto-items", type=int, default=0, help="also time a finder pass over moto (0: no)")
    args = p.parse_args()
    items = [serialize(item(i)) for i in range(args.items)]
    new = best(lambda: [deserialize(x) for x in items], args.repeat)
    from botocore.parsers import create_parser
    from botocore.session import get_session

    shape = get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    body = json.dumps({"Items": items[:1000], "Count": 1000, "ScannedCount": 1000}).encode()
    parser = create_parser("json")
    parse = best(lambda: parser.parse({"body": body, "headers": {}, "status_code": 200}, shape), args.repeat)
    n = args.items
    if args.moto_items:
        moto_pass(args.moto_items)
    print(f"{n:,} items of {len(json.dumps(items[0])):,} bytes (best of {args.repeat})")
    print(f"boto3 TypeDeserializer : {new:.3f} s  ({new / n * 1e6:.0f} µs/item)")
    print(f"botocore parse 1k page : {parse:.3f} s  ({parse / 1000 * 1e6:.0f} µs/item, paid before it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
