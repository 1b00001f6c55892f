"""The loop-responsiveness knobs: one object, the configurable ones taken from Settings."""

from __future__ import annotations

import dataclasses

import pytest

from poller.config import Settings
from poller.runtime.responsiveness import Responsiveness


def test_configured_knobs_come_from_settings_and_the_rest_keep_their_defaults() -> None:
    settings = Settings(turn_budget_seconds=0.01, gc_young_seconds=0.05, gc_full_seconds=120.0)
    knobs = Responsiveness.from_settings(settings)
    assert (knobs.turn_budget_seconds, knobs.gc_young_seconds, knobs.gc_full_seconds) == (0.01, 0.05, 120.0)
    assert dataclasses.replace(
        knobs, turn_budget_seconds=0.005, gc_young_seconds=0.025, gc_full_seconds=600.0
    ) == (Responsiveness())


def test_settings_defaults_are_the_knobs_defaults() -> None:
    assert Responsiveness.from_settings(Settings()) == Responsiveness()


def test_knobs_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Responsiveness().wake_slice = 1  # type: ignore[misc]
