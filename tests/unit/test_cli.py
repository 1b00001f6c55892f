"""The product's command line offers only what works in the production image."""

from __future__ import annotations

import subprocess
import sys

from poller.cli import build_parser


def test_poller_commands_are_run_init_tables_and_report_only() -> None:
    subparsers = build_parser()._subparsers
    assert subparsers is not None
    choices = set(subparsers._group_actions[0].choices)  # type: ignore[attr-defined]
    assert choices == {"run", "init-tables", "report"}


def test_poller_help_names_no_development_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "poller", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "run" in out and "init-tables" in out
    assert "demo" not in out
