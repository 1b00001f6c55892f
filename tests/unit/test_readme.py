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
    exported = {
        family.name + ("_total" if family.type == "counter" else "")  # a counter family's name lacks it
        for family in REGISTRY.collect()
        if family.name.startswith("poller_")
    }
    assert documented == exported


def _layout_tree() -> list[str]:
    """The paths the README's layout picture names (first column of the tree block)."""
    block = README.split("## Layout", 1)[1].split("```text", 1)[1].split("```", 1)[0]
    paths = []
    for line in block.splitlines():
        name = line.lstrip("│├└─ ").split("  ")[0].strip()
        if name.endswith("/"):
            paths.append(name)
    return paths


def test_readme_layout_names_every_package_of_the_product_and_nothing_that_is_gone() -> None:
    root = Path(__file__).resolve().parents[2]
    named = _layout_tree()
    top = [p for p in named if not p.startswith(("domain", "pipeline", "store", "aws", "api", "runtime"))]
    for path in top:
        assert (root / path).is_dir(), f"README layout names {path}, which does not exist"
    subpackages = {p.rstrip("/") for p in named} & {d.name for d in (root / "poller").iterdir()}
    actual = {d.name for d in (root / "poller").iterdir() if (d / "__init__.py").is_file()}
    assert subpackages == actual, f"README layout lists {sorted(subpackages)}, poller/ has {sorted(actual)}"
