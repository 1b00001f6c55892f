"""Micro-benchmark of the finder's per-item CPU: boto3 TypeDeserializer vs ``poller.find``.

Realistic items (10 servers in 2 waves, every attribute a launched server has), no I/O; also
times botocore's parsing of a 1,000-item Query page, which the finder pays before either.
Best of ``--repeat`` runs, so a noisy machine inflates both sides less.

    .venv/bin/python bench/micro_finder.py --items 10000
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

from boto3.dynamodb.types import TypeDeserializer

from poller.dynamodb import deserialize, serialize

_BOTO3 = TypeDeserializer()


def boto3_deserialize(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: _BOTO3.deserialize(v) for k, v in raw.items()}


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


def best(fn: Any, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    items = [serialize(item(i)) for i in range(args.items)]
    assert [deserialize(x) for x in items[:50]] == [boto3_deserialize(x) for x in items[:50]]
    old = best(lambda: [boto3_deserialize(x) for x in items], args.repeat)
    new = best(lambda: [deserialize(x) for x in items], args.repeat)
    from botocore.parsers import create_parser
    from botocore.session import get_session

    shape = get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    body = json.dumps({"Items": items[:1000], "Count": 1000, "ScannedCount": 1000}).encode()
    parser = create_parser("json")
    parse = best(lambda: parser.parse({"body": body, "headers": {}, "status_code": 200}, shape), args.repeat)
    n = args.items
    print(f"{n:,} items of {len(json.dumps(items[0])):,} bytes (best of {args.repeat})")
    print(f"boto3 TypeDeserializer : {old:.3f} s  ({old / n * 1e6:.0f} µs/item)")
    print(f"poller.dynamodb        : {new:.3f} s  ({new / n * 1e6:.0f} µs/item)  {old / new:.1f}× faster")
    print(f"botocore parse 1k page : {parse:.3f} s  ({parse / 1000 * 1e6:.0f} µs/item, paid before either)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
