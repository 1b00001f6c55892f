"""``drssim serve``: run the simulator as a standalone server (docker compose, demos)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from aiohttp import web

from drssim.accounts import ACCOUNT_RE, Accounts
from drssim.app import build_app
from drssim.clock import SimClock
from drssim.launch_events import EventOptions, create_launch_event_queue
from drssim.quotas import Quotas
from drssim.state import ACCOUNT_ID, Simulator


def build_parser() -> argparse.ArgumentParser:
    """Argument parser (separate so tests can check it without serving)."""
    parser = argparse.ArgumentParser(prog="drssim", description="AWS Elastic Disaster Recovery simulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the DRS API and the /_sim/ control API")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=4567, help="port (default 4567)")
    serve.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="simulated seconds per wall second; 60 plays a 20-minute drill in 20 s (0 = manual clock)",
    )
    serve.add_argument("--seed", type=int, default=None, help="seed the RNG for reproducible IDs and jitter")
    serve.add_argument(
        "--strict-source-servers",
        action="store_true",
        help="reject StartRecovery for unregistered source servers instead of auto-registering them",
    )
    serve.add_argument(
        "--events-endpoint-url",
        default=None,
        help="send 'DRS Source Server Launch Result' events to this EventBridge endpoint (default: off)",
    )
    serve.add_argument(
        "--events-drop-rate", type=float, default=0.0, help="share of launch events lost (0-1, default 0)"
    )
    serve.add_argument(
        "--events-duplicate-rate",
        type=float,
        default=0.0,
        help="share of launch events sent twice (0-1, default 0)",
    )
    serve.add_argument(
        "--max-concurrent-jobs",
        type=int,
        default=None,
        help="enforce DRS's concurrent-jobs quota per region (DRS default 20; off when unset)",
    )
    serve.add_argument(
        "--max-servers-in-jobs",
        type=int,
        default=None,
        help="enforce DRS's quota of source servers across active jobs per region (DRS default 500; off when unset)",
    )
    serve.add_argument(
        "--one-job-per-server",
        action="store_true",
        help="refuse (409 ConflictException) a StartRecovery naming a source server already in an active job",
    )
    serve.add_argument(
        "--account-key",
        action="append",
        default=[],
        metavar="ACCESS_KEY_ID=ACCOUNT",
        help="calls signed with this access key are in this 12-digit account (repeatable; see docs/drssim.md)",
    )
    serve.add_argument(
        "--sts-endpoint-url",
        default=None,
        help="a moto server whose STS names the account of other access keys (e.g. from its AssumeRole); "
        f"unset: every other call is in account {ACCOUNT_ID}",
    )
    serve.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    queue = sub.add_parser(
        "events-queue",
        help="create the SQS queue an EventBridge rule fills with launch-result events (on moto)",
        description="Creates (idempotently) the launch-event queue, its dead-letter queue and the rules "
        "that deliver 'DRS Source Server Launch Result' events to it, on an EventBridge + SQS stand-in "
        "such as moto; prints the queue URL for POLLER_LAUNCH_EVENTS_QUEUE_URL.",
    )
    queue.add_argument(
        "--endpoint-url", required=True, help="EventBridge and SQS endpoint, e.g. http://moto:5000"
    )
    queue.add_argument("--queue-region", default="us-east-1", help="region of the queue (default us-east-1)")
    queue.add_argument(
        "--drs-regions",
        default="us-east-1",
        help="comma-separated regions whose events reach it (default us-east-1)",
    )
    queue.add_argument("--name", default="drs-launch-events", help="queue name (default drs-launch-events)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``drssim`` script."""
    args = build_parser().parse_args(argv)
    if args.command == "events-queue":
        regions = [r.strip() for r in args.drs_regions.split(",") if r.strip()]
        print(create_launch_event_queue(args.endpoint_url, args.queue_region, regions, args.name), flush=True)
        return 0
    if args.time_scale < 0:
        raise SystemExit("--time-scale must be >= 0")
    for name in ("events_drop_rate", "events_duplicate_rate"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise SystemExit(f"--{name.replace('_', '-')} must be between 0 and 1")
    events = (
        EventOptions(args.events_endpoint_url, args.events_drop_rate, args.events_duplicate_rate)
        if args.events_endpoint_url
        else None
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for name in ("max_concurrent_jobs", "max_servers_in_jobs"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1")
    quotas = Quotas(args.max_concurrent_jobs, args.max_servers_in_jobs, args.one_job_per_server)
    keys: dict[str, str] = {}
    for pair in args.account_key:
        key, sep, account = pair.partition("=")
        if not sep or not key or not ACCOUNT_RE.fullmatch(account):
            raise SystemExit(f"--account-key {pair!r}: expected ACCESS_KEY_ID=ACCOUNT (12 digits)")
        keys[key] = account
    sim = Simulator(
        clock=SimClock(args.time_scale),
        seed=args.seed,
        strict_source_servers=args.strict_source_servers,
        quotas=quotas,
        accounts=Accounts(ACCOUNT_ID, keys, args.sts_endpoint_url),
    )
    logging.getLogger("drssim").info(
        "drssim serving on http://%s:%d (time_scale=%s, seed=%s, strict=%s)",
        args.host,
        args.port,
        args.time_scale,
        args.seed,
        args.strict_source_servers,
    )
    web.run_app(build_app(sim, events), host=args.host, port=args.port, print=None, access_log=None)
    return 0
