"""`poller-dev` command line: the embedded demo (``make run``) and where to find the local stand-ins."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from poller_devtools.demo import add_demo_parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poller-dev",
        description="Development tools for the DRS execution poller (not part of the production image).",
        epilog=(
            "Local stand-ins on their own: `python -m poller_devtools.local --help` (moto server), "
            "`python -m poller_devtools.faultproxy --help` (DynamoDB fault proxy), `drssim --help` (DRS)."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
