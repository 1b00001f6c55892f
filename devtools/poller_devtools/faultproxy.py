"""A fault-injecting HTTP proxy for DynamoDB-compatible endpoints (moto, DynamoDB Local).

Put it between the poller and the endpoint and it answers a set fraction of requests with
the failures DynamoDB really produces, forwarding everything else unchanged:

- ``throughput_exceeded``: HTTP 400 ``ProvisionedThroughputExceededException`` with DynamoDB's
  JSON error body (botocore's standard retry mode treats it as throttling);
- ``error``: HTTP 500 ``InternalServerError``;
- ``timeout``: the request is held for ``hold_seconds`` (longer than the client's read timeout),
  never forwarded, then the connection is closed;
- ``drop``: the connection is closed at once, without an answer and without forwarding;
- ``drop_response``: the request IS forwarded (a write lands) but the answer is lost — the
  ambiguous failure a conditional write must survive.

Faults are drawn from a seeded RNG, optionally only for some operations (``X-Amz-Target``).
Rates can be changed while it runs (tests do, to stage an outage): in process through
:attr:`FaultProxy.rates`, or over HTTP ``POST /_faultproxy/rates`` with a JSON body of rates;
``GET /_faultproxy/stats`` shows what was injected.

    python -m poller_devtools.faultproxy --target http://127.0.0.1:5000 --listen-port 5001 \\
        --throughput-exceeded-rate 0.2 --error-rate 0.05 --timeout-rate 0.02 --drop-rate 0.02

then point the poller at it: ``POLLER_DYNAMODB_ENDPOINT_URL=http://127.0.0.1:5001``.
Plain HTTP only: it is a test tool for local endpoints, not for real AWS (TLS, SigV4 host).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

import aiohttp
from aiohttp import web

FAULT_KINDS = ("throughput_exceeded", "error", "timeout", "drop", "drop_response")
AMZ_JSON = "application/x-amz-json-1.0"
CONTROL_PREFIX = "/_faultproxy/"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "content-length",
        "content-encoding",
        "keep-alive",
        "transfer-encoding",
        "host",
        "upgrade",
        "proxy-connection",
    }
)


@dataclass(frozen=True)
class FaultRates:
    """Fraction (0..1) of matching requests that get each fault; they must sum to at most 1."""

    throughput_exceeded: float = 0.0
    error: float = 0.0
    timeout: float = 0.0
    drop: float = 0.0
    drop_response: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{f.name} rate must be within 0..1, not {value}")
        if self.total() > 1.0 + 1e-9:
            raise ValueError(f"fault rates sum to {self.total():.3f} > 1")

    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def pick(self, roll: float) -> str | None:
        """The fault for a uniform ``roll`` in [0, 1), or None to forward."""
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += getattr(self, kind)
            if roll < edge:
                return kind
        return None


def dynamodb_error_body(code: str, message: str) -> bytes:
    return json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message}).encode()


class FaultProxy:
    """The proxy: an aiohttp app forwarding to ``target`` with faults at :attr:`rates`."""

    def __init__(
        self,
        target: str,
        rates: FaultRates | None = None,
        hold_seconds: float = 30.0,
        seed: int | None = None,
        operations: Sequence[str] | None = None,
    ) -> None:
        self.target = target.rstrip("/")
        self.rates = rates or FaultRates()
        self.hold_seconds = hold_seconds
        self.operations = frozenset(operations) if operations else None
        self.injected: Counter[str] = Counter()
        self.forwarded = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # rates and counters are touched from the test thread too
        self._session: aiohttp.ClientSession | None = None
        self._closing: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # ---- control --------------------------------------------------------------------------
    def set_rates(self, **rates: float) -> FaultRates:
        """Replace the rates (unnamed ones become 0): ``proxy.set_rates(error=1.0)``."""
        new = FaultRates(**rates)
        with self._lock:
            self.rates = new
        return new

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rates": asdict(self.rates),
                "forwarded": self.forwarded,
                "injected": {kind: self.injected.get(kind, 0) for kind in FAULT_KINDS},
                "injected_total": sum(self.injected.values()),
            }

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the proxy is not started")
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle ------------------------------------------------------------------------
    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get(CONTROL_PREFIX + "stats", self._stats_handler)
        app.router.add_post(CONTROL_PREFIX + "rates", self._rates_handler)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._closing = asyncio.Event()
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_read=120), auto_decompress=False
        )
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        for address in self._runner.addresses:
            if isinstance(address, tuple):
                self.port = int(address[1])
                break
        assert self.port is not None
        return self.port

    async def stop(self) -> None:
        if self._closing is not None:
            self._closing.set()  # wake held requests so shutdown does not wait hold_seconds
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    # ---- handlers -------------------------------------------------------------------------
    async def _stats_handler(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _rates_handler(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            self.set_rates(**{k: float(v) for k, v in body.items()})
        except (ValueError, TypeError, AttributeError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response(self.stats())

    def _decide(self, operation: str) -> str | None:
        with self._lock:
            if self.operations is not None and operation not in self.operations:
                return None
            kind = self.rates.pick(self._rng.random())
            if kind is not None:
                self.injected[kind] += 1
            else:
                self.forwarded += 1
            return kind

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        operation = request.headers.get("X-Amz-Target", "").rpartition(".")[2]
        kind = self._decide(operation)
        if kind == "throughput_exceeded":
            return web.Response(
                status=400,
                body=dynamodb_error_body(
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded. "
                    "Consider increasing your provisioning level with the UpdateTable API.",
                ),
                headers={"Content-Type": AMZ_JSON, "x-amzn-RequestId": "faultproxy"},
            )
        if kind == "error":
            return web.Response(
                status=500,
                body=dynamodb_error_body("InternalServerError", "Internal server error (injected)"),
                headers={"Content-Type": AMZ_JSON, "x-amzn-RequestId": "faultproxy"},
            )
        if kind == "timeout":
            assert self._closing is not None
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=self.hold_seconds)
            except TimeoutError:
                pass
            return self._drop(request)
        if kind == "drop":
            return self._drop(request)
        status, headers, payload = await self._forward(request, body)
        if kind == "drop_response":
            return self._drop(request)
        return web.Response(status=status, body=payload, headers=headers)

    async def _forward(self, request: web.Request, body: bytes) -> tuple[int, dict[str, str], bytes]:
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        async with self._session.request(
            request.method, self.target + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_BY_HOP}
            return upstream.status, out, payload

    @staticmethod
    def _drop(request: web.Request) -> web.StreamResponse:
        """Close the connection without a response (the client sees a reset / closed socket)."""
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # aiohttp ends the handler quietly on a lost connection


@contextmanager
def running_fault_proxy(
    target: str,
    rates: FaultRates | None = None,
    hold_seconds: float = 30.0,
    seed: int | None = None,
    operations: Sequence[str] | None = None,
) -> Iterator[FaultProxy]:
    """Run a proxy on 127.0.0.1 (free port) in its own thread and loop; stopped on exit.

    Its own loop keeps it independent of the code under test (which may block its loop or
    be a synchronous client). Change faults while it runs with :meth:`FaultProxy.set_rates`.
    """
    proxy = FaultProxy(target, rates, hold_seconds, seed, operations)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="faultproxy", daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(timeout=10)
        yield proxy
    finally:
        try:
            asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def _rate(value: str) -> float:
    rate = float(value)
    if not 0.0 <= rate <= 1.0:
        raise argparse.ArgumentTypeError(f"a rate is a fraction from 0 to 1, not {value}")
    return rate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m poller_devtools.faultproxy",
        description="Fault-injecting HTTP proxy for a DynamoDB-compatible endpoint (moto, DynamoDB Local).",
        epilog="Change rates while running: curl -XPOST localhost:PORT/_faultproxy/rates -d '{\"error\": 1}'",
    )
    parser.add_argument("--target", required=True, help="endpoint to forward to, e.g. http://127.0.0.1:5000")
    parser.add_argument("--listen-host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--listen-port", type=int, default=0, help="port to bind (default: any free port)")
    parser.add_argument(
        "--throughput-exceeded-rate",
        type=_rate,
        default=0.0,
        help="fraction answered 400 ProvisionedThroughputExceededException",
    )
    parser.add_argument(
        "--error-rate", type=_rate, default=0.0, help="fraction answered 500 InternalServerError"
    )
    parser.add_argument(
        "--timeout-rate", type=_rate, default=0.0, help="fraction held --hold-seconds, then closed"
    )
    parser.add_argument("--drop-rate", type=_rate, default=0.0, help="fraction closed at once, not forwarded")
    parser.add_argument(
        "--drop-response-rate",
        type=_rate,
        default=0.0,
        help="fraction forwarded (writes land) whose answer is then lost",
    )
    parser.add_argument(
        "--hold-seconds", type=float, default=30.0, help="how long a 'timeout' holds the request (default 30)"
    )
    parser.add_argument(
        "--operations",
        default=None,
        help="comma-separated operations to fault (X-Amz-Target, e.g. Query,UpdateItem); default all",
    )
    parser.add_argument("--seed", type=int, default=None, help="RNG seed for reproducible fault sequences")
    return parser


async def _serve(args: argparse.Namespace) -> None:
    rates = FaultRates(
        throughput_exceeded=args.throughput_exceeded_rate,
        error=args.error_rate,
        timeout=args.timeout_rate,
        drop=args.drop_rate,
        drop_response=args.drop_response_rate,
    )
    operations = [o.strip() for o in args.operations.split(",") if o.strip()] if args.operations else None
    proxy = FaultProxy(args.target, rates, args.hold_seconds, args.seed, operations)
    port = await proxy.start(args.listen_host, args.listen_port)
    print(f"faultproxy: http://{args.listen_host}:{port} -> {proxy.target} {asdict(rates)}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await proxy.stop()
    print(f"faultproxy: stopped; {json.dumps(proxy.stats())}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        FaultRates(
            args.throughput_exceeded_rate,
            args.error_rate,
            args.timeout_rate,
            args.drop_rate,
            args.drop_response_rate,
        )
    except ValueError as err:
        build_parser().error(str(err))
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
