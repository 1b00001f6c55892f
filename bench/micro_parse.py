"""Micro-benchmark: CPU to parse one DescribeJobs answer and one finder page, botocore's walk vs
the verbatim parse.

The daemon's batched DescribeJobs answer carries hundreds of jobs, and a finder page (a
DynamoDB Query answer) 500 items; parsing either runs on the event loop, so its time is a loop
stall. This builds answers shaped as drssim (and DRS) and DynamoDB send them, checks both
parsers return the same objects, and prints the time per answer of each.

    .venv/bin/python bench/micro_parse.py --jobs 300 --servers 5
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import botocore.session
from botocore.parsers import JSONParser, RestJSONParser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from poller.aws.parse import VerbatimJSONParser, loads_verbatim
from poller.aws.verbatim import is_verbatim
from poller.pipeline.find import PAGE_ITEMS


def job(i: int, servers: int) -> dict[str, Any]:
    job_id = f"drsjob-{i:017d}"
    return {
        "jobID": job_id,
        "arn": f"arn:aws:drs:us-east-1:123456789012:job/{job_id}",
        "type": "LAUNCH",
        "initiatedBy": "START_DRILL",
        "creationDateTime": "2026-11-29T05:00:00.000000Z",
        "status": "STARTED",
        "participatingServers": [
            {
                "sourceServerID": f"s-{i * servers + k:017d}",
                "launchStatus": "LAUNCHED",
                "recoveryInstanceID": f"i-{i * servers + k:017x}",
            }
            for k in range(servers)
        ],
        "tags": {"ExecutionId": f"exec-{i}"},
    }


def finder_page() -> bytes:
    """A StatusIndex Query page as DynamoDB sends it: the finder's projection of PAGE_ITEMS items."""
    items = [
        {
            "ExecutionId": {"S": f"exec-{i:06d}-94070e6a"},
            "Status": {"S": "POLLING"},
            "StartTime": {"N": "1764403200.123"},
            "LeaseOwner": {"S": "ip-10-0-0-1-1234-abcd"},
            "LeaseExpiry": {"N": "1764403290.5"},
            "PendingWaves": {"N": "0"},
        }
        for i in range(PAGE_ITEMS)
    ]
    return json.dumps({"Items": items, "Count": len(items), "ScannedCount": len(items)}).encode()


def seconds_per_parse(parse: Any, repeat: int) -> float:
    start = time.process_time()
    for _ in range(repeat):
        parse()
    return (time.process_time() - start) / repeat


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--jobs", type=int, default=300, help="jobs in the answer (300: one batch at 10,000 executions)"
    )
    p.add_argument("--servers", type=int, default=5, help="participating servers per job (5)")
    p.add_argument("--repeat", type=int, default=20, help="parses timed per parser (20)")
    args = p.parse_args()
    shape = (
        botocore.session.get_session().get_service_model("drs").operation_model("DescribeJobs").output_shape
    )
    body = json.dumps({"items": [job(i, args.servers) for i in range(args.jobs)]}).encode()
    response = {"status_code": 200, "headers": {"x-amzn-requestid": "micro"}, "body": body}
    botocore_parser = RestJSONParser()

    expected = botocore_parser.parse(response, shape)
    got = {**loads_verbatim(body), "ResponseMetadata": expected["ResponseMetadata"]}
    if got != expected or not is_verbatim(shape):
        print("verbatim parse differs from botocore's: not timing it", file=sys.stderr)
        return 1
    walk = seconds_per_parse(lambda: botocore_parser.parse(response, shape), args.repeat)
    verbatim = seconds_per_parse(lambda: loads_verbatim(body), args.repeat)
    print(f"DescribeJobs answer: {args.jobs} jobs x {args.servers} servers, {len(body) / 1024:.0f} KiB")
    print(f"{'parser':>10} | {'ms per answer':>13}")
    print(f"{'botocore':>10} | {walk * 1000:13.2f}")
    print(f"{'verbatim':>10} | {verbatim * 1000:13.2f}")
    print(f"verbatim is {walk / verbatim:.1f}x faster (same objects)")

    page = finder_page()
    query = botocore.session.get_session().get_service_model("dynamodb").operation_model("Query").output_shape
    walker, fast = JSONParser(), VerbatimJSONParser()
    if fast._handle_json_body(page, query) != walker._handle_json_body(page, query):
        print("verbatim finder page differs from botocore's: not timing it", file=sys.stderr)
        return 1
    walk = seconds_per_parse(lambda: walker._handle_json_body(page, query), args.repeat)
    verbatim = seconds_per_parse(lambda: fast._handle_json_body(page, query), args.repeat)
    print(f"\nFinder page (DynamoDB Query): {PAGE_ITEMS} items, {len(page) / 1024:.0f} KiB")
    print(f"{'parser':>10} | {'ms per page':>13}")
    print(f"{'botocore':>10} | {walk * 1000:13.2f}")
    print(f"{'verbatim':>10} | {verbatim * 1000:13.2f}")
    print(f"verbatim is {walk / verbatim:.1f}x faster (same objects)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
