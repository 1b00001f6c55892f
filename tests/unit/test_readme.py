"""The README's configuration and metrics tables cannot drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import REGISTRY

import poller.runtime.daemon  # noqa: F401  (imports every module that declares metrics)
from poller.config import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _table_names(pattern: str) -> set[str]:
    return set(re.findall(pattern, README, flags=re.MULTILINE))


def test_readme_configuration_table_lists_exactly_the_settings() -> None:
    documented = _table_names(r"^\| `(POLLER_[A-Z0-9_]+)` \|")
    documented = {name for name in documented if name != "POLLER_CONFIG_FILE"}
    declared = {f"POLLER_{name.upper()}" for name in Settings.model_fields}
    assert documented == declared


def test_readme_metrics_table_lists_exactly_the_exported_metrics() -> None:
    documented = _table_names(r"^\| `(poller_[a-z0-9_]+)` \|")
    exported = set()
    for collector in list(REGISTRY._collector_to_names):
        name = getattr(collector, "_name", "")
        if name.startswith("poller_"):
            exported.add(name + ("_total" if getattr(collector, "_type", "") == "counter" else ""))
    assert documented == exported
