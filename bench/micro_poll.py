"""Micro-benchmark: the daemon's own CPU per poll, without any server, to size 10,000 executions.

One poll of an execution = apply the DRS answer (``apply_poll``), build the conditional
UpdateItem exactly as the daemon does (``poller.store.executions.save_request``) and turn it into the HTTP
request body as the daemon's DynamoDB client does (botocore's parameter validation, then its JSON
serializer: ``botocore.serialize.create_serializer``, what every botocore client uses). The
finder's share is the per-item parse of its small projection. Multiplying by the poll rate at
default intervals gives the daemon's CPU at 10,000 executions — the figure moto cannot show.

    .venv/bin/python bench/micro_poll.py --executions 2000 --servers 10
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import botocore.session
from botocore.serialize import create_serializer

from poller.domain.apply import apply_poll
from poller.domain.model import Execution, Server, Wave
from poller.store.dynamodb import deserialize, serialize
from poller.store.executions import save_request
from poller.store.lease import Lease


def execution(i: int, servers: int) -> Execution:
    waves = []
    for w, region in enumerate(("us-east-1", "us-west-2")):
        job = f"drsjob-{i:08d}{w:09d}"
        waves.append(
            Wave(
                WaveName=f"wave-{w}",
                Region=region,
                Servers=[
                    Server(SourceServerId=f"s-{i:08d}{w}{k:08d}", RecoveryJobId=job, Status="PENDING")
                    for k in range(servers // 2)
                ],
            )
        )
    return Execution(
        ExecutionId=f"exec-{i}", PlanId="p", ExecutionType="DRILL", Status="POLLING", StartTime=0, Waves=waves
    )


def answer(e: Execution) -> dict[str, Any]:
    jobs = {}
    for wave in e.Waves:
        job_id = wave.Servers[0].RecoveryJobId or ""
        jobs[job_id] = {
            "jobID": job_id,
            "status": "STARTED",
            "participatingServers": [
                {"sourceServerID": s.SourceServerId, "launchStatus": "IN_PROGRESS"} for s in wave.Servers
            ],
        }
    return jobs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--executions", type=int, default=2000, help="executions to poll once each (2000)")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, over 2 waves (10)")
    args = p.parse_args()
    model = botocore.session.get_session().get_service_model("dynamodb")
    update = model.operation_model("UpdateItem")
    lease = Lease("micro-poll", 190.0)
    executions = [execution(i, args.servers) for i in range(args.executions)]
    answers = [answer(e) for e in executions]

    serializer = create_serializer("json", include_validation=True)  # as a default DynamoDB client
    start = time.process_time()
    for e, jobs in zip(executions, answers, strict=True):
        outcome = apply_poll(e, jobs, now=100.0)
        serializer.serialize_to_request(save_request("t", outcome.execution, 0, lease), update)
    poll = (time.process_time() - start) / args.executions

    small = [
        serialize({"ExecutionId": f"exec-{i}", "Status": "POLLING", "StartTime": i}) for i in range(10000)
    ]
    start = time.process_time()
    for raw in small:
        deserialize(raw)
    per_found = (time.process_time() - start) / len(small)

    polls_per_s = 10_000 / 30.0  # 10,000 executions at the 30 s IN_PROGRESS interval
    finder_per_s = 10_000 / 10.0  # a pass every 10 s
    print(f"{args.executions:,} executions × {args.servers} servers, one poll each (CPU, no I/O)")
    print(f"  apply + save request + request body  : {poll * 1e3:.2f} ms per poll")
    print(f"  finder projection item parse        : {per_found * 1e6:.1f} µs per item")
    core = poll * polls_per_s + per_found * finder_per_s
    print(f"  at 10,000 executions (30 s interval, finder every 10 s): {core:.2f} core")
    print("  (excludes botocore/aiohttp HTTP and JSON parsing of answers: measure with bench_daemon)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
