"""`poller` command line: run the daemon, create the tables, render a recovery report. Only what works in
the production image."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from poller.config import ConfigError, Settings, load_settings, unknown_variables
from poller.logs import configure_logging


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    warn_unknown_variables()
    from poller.runtime.daemon import run_daemon

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_daemon(settings, stop)

    asyncio.run(main())
    return 0


def _init_tables(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.log_level, settings.log_format)
    from poller.aws.clients import AwsClients
    from poller.store.tables import ensure_tables

    async def main() -> list[str]:
        async with AwsClients(settings.model_copy(update={"drs_regions": []})) as clients:
            return await ensure_tables(
                clients.dynamodb, settings.table_name, settings.plans_table_name, settings.status_index_name
            )

    created = asyncio.run(main())
    structlog.get_logger("poller.cli").info("tables_ready", created=created)
    return 0


def warn_unknown_variables() -> None:
    """One warning per ``POLLER_*`` variable no setting reads, naming the closest known one."""
    log = structlog.get_logger("poller.config")
    for name, closest in unknown_variables():
        log.warning("unknown_setting", variable=name, did_you_mean=closest)


def _report(args: argparse.Namespace) -> int:
    """GET /executions/{id}/report from a running poller and render it (stdout or --output)."""
    import json
    import os
    import urllib.error
    import urllib.parse
    import urllib.request

    from poller.report import render

    url = f"{args.api.rstrip('/')}/executions/{urllib.parse.quote(args.execution_id, safe='')}/report"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    token = os.environ.get("POLLER_API_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as err:
        detail = err.read().decode("utf-8", "replace")
        print(f"poller report: {url} answered {err.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        print(f"poller report: cannot reach {url} ({err}); is the poller running? set --api", file=sys.stderr)
        return 1
    text = render(report, args.format)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(args.output)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poller",
        description="Tracks AWS Elastic Disaster Recovery executions from jobs started to servers launched.",
        epilog="Settings come from POLLER_* environment variables or a file (default config/poller.env).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the polling daemon until SIGTERM/SIGINT")
    run.add_argument("--config", type=Path, help="settings file (KEY=value lines, POLLER_ prefix)")
    run.set_defaults(func=_run)
    init = sub.add_parser("init-tables", help="create the execution and plan tables if missing")
    init.add_argument("--config", type=Path, help="settings file (KEY=value lines, POLLER_ prefix)")
    init.set_defaults(func=_init_tables)
    report = sub.add_parser(
        "report",
        help="render an execution's recovery-time report (json, md, or one self-contained html file)",
        description="Fetches GET /executions/{id}/report (POLLER_API_TOKEN is sent as bearer token).",
    )
    report.add_argument("execution_id", help="the execution's id")
    report.add_argument("--format", choices=("json", "md", "html"), default="md", help="output format")
    report.add_argument("--api", default="http://127.0.0.1:8080", help="the poller's API base URL")
    report.add_argument("--output", type=Path, help="write to this file (prints its path) instead of stdout")
    report.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the API")
    report.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as err:
        print(f"poller: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


__all__ = ["Settings", "build_parser", "main"]
