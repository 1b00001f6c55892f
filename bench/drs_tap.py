"""A recording pass-through in front of drssim: one listening port per daemon replica.

Each replica gets its own DRS endpoint (a port of this tap); every request is forwarded unchanged
to drssim and its answer returned unchanged, and each DescribeJobs is recorded as one JSON line
``[replica, wall time, region, [job IDs]]``. drssim's own call log counts job IDs but cannot
tell replicas apart; this record is what shows which replica asked DRS about which execution's
job, and when (``bench/bench_org.py``: no execution polled by two replicas at once).

    .venv/bin/python bench/drs_tap.py --upstream http://127.0.0.1:PORT --ports 9001,9002,9003 --out asks.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import time
from typing import Any, TextIO

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

# the region is the SigV4 credential scope's: Credential=AKID/date/REGION/drs/aws4_request
CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/[a-z0-9-]+/aws4_request")
# hop-by-hop or recomputed headers: the rest (signature included) goes through unchanged
SKIP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "keep-alive"}


def describe_jobs_ids(body: bytes) -> list[str]:
    """The job IDs a DescribeJobs body asks about ([] when it names none or does not parse)."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return []
    filters = parsed.get("filters") if isinstance(parsed, dict) else None
    ids = filters.get("jobIDs") if isinstance(filters, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def region_of(authorization: str | None) -> str:
    match = CREDENTIAL.search(authorization or "")
    return match.group(1) if match else ""


class Tap:
    def __init__(self, upstream: str, out: TextIO) -> None:
        self.upstream = upstream.rstrip("/")
        self.out = out
        self.session: ClientSession | None = None

    def handler(self, replica: int) -> Any:
        async def forward(request: web.Request) -> web.StreamResponse:
            assert self.session is not None
            body = await request.read()
            if request.path == "/DescribeJobs":
                record = [replica, time.time(), region_of(request.headers.get("Authorization"))]
                self.out.write(json.dumps([*record, describe_jobs_ids(body)]) + "\n")
            headers = {k: v for k, v in request.headers.items() if k.lower() not in SKIP_HEADERS}
            async with self.session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=body
            ) as answer:
                payload = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in SKIP_HEADERS}
                return web.Response(status=answer.status, body=payload, headers=kept)

        return forward

    async def serve(self, ports: list[int], stop: asyncio.Event) -> None:
        connector = TCPConnector(limit=200)
        async with ClientSession(connector=connector, timeout=ClientTimeout(total=120)) as session:
            self.session = session
            runners = []
            for replica, port in enumerate(ports):
                app = web.Application(client_max_size=64 * 1024 * 1024)
                app.router.add_route("*", "/{tail:.*}", self.handler(replica))
                runner = web.AppRunner(app, access_log=None)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", port).start()
                runners.append(runner)
            print(f"tap listening on {','.join(map(str, ports))} -> {self.upstream}", flush=True)
            await stop.wait()
            for runner in runners:
                await runner.cleanup()
        self.out.flush()


async def main_async(args: argparse.Namespace, out: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await Tap(args.upstream, out).serve([int(p) for p in args.ports.split(",")], stop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="Listens on 127.0.0.1 only.")
    p.add_argument("--upstream", required=True, help="drssim's URL, e.g. http://127.0.0.1:8123")
    p.add_argument("--ports", required=True, help="comma-separated ports, one per replica (index = replica)")
    p.add_argument("--out", required=True, help="JSON lines [replica, wall time, region, job IDs]")
    args = p.parse_args()
    with open(args.out, "a", buffering=1 << 16) as out:
        asyncio.run(main_async(args, out))


if __name__ == "__main__":
    main()
