"""The organisation benchmark's own bookkeeping: stand-in region names, calls per batch window,
replicas asking about one job at once, duplicated or regressed status writes."""

from __future__ import annotations

import pytest

from bench.bench_org import OrgShape, ask_overlaps, calls_per_window, stand_in_region, status_writes
from poller.config import AWS_REGION


def test_member_accounts_are_distinct_12_digit_ids_in_regions_the_daemon_accepts() -> None:
    targets = OrgShape(accounts=20, regions=2, jobs=20, servers=10).targets()
    assert len(set(targets)) == 40
    assert all(a is not None and a.isdigit() and len(a) == 12 for a, _ in targets)
    assert {r for _, r in targets} == {"us-east-1", "us-west-2"}


def test_the_stand_in_makes_every_account_region_a_distinct_region_name_the_daemon_accepts() -> None:
    names = OrgShape(accounts=30, regions=3, jobs=20, servers=10, stand_in=True).region_names()
    assert len(set(names)) == 90
    assert all(AWS_REGION.fullmatch(name) for name in names)
    assert stand_in_region(27, 0) == "zz-acctbb-1"


def test_an_account_or_region_count_past_the_names_is_refused() -> None:
    with pytest.raises(ValueError):
        stand_in_region(0, 9)


def test_one_call_per_region_and_window_counts_one() -> None:
    got = calls_per_window({"r1": [0.0, 1.0, 2.0], "r2": [0.5, 1.5]}, window=0.1, t0=0.0)
    assert got == {"mean_per_window": 1.0, "max_per_window": 1.0}


def test_calls_within_one_window_of_each_other_count_together() -> None:
    got = calls_per_window({"r1": [0.0, 0.05, 0.08, 1.0]}, window=0.1, t0=0.0)
    assert got["max_per_window"] == 3.0
    assert got["mean_per_window"] == 2.0  # windows [0, 0.1) with 3 calls and [1.0, 1.1) with 1


def test_a_hand_over_is_not_an_overlap() -> None:
    asks = [(0, 1.0, "r", ["j1"]), (0, 2.0, "r", ["j1"]), (1, 12.0, "r", ["j1"]), (1, 13.0, "r", ["j1"])]
    assert ask_overlaps(asks, gap=5.0) == {"jobs_asked": 1, "handed_over": 1, "asked_by_two_at_once": 0}


def test_two_replicas_alternating_on_one_job_is_an_overlap() -> None:
    asks = [(0, 1.0, "r", ["j1", "j2"]), (1, 1.5, "r", ["j1"]), (0, 2.0, "r", ["j1", "j2"])]
    assert ask_overlaps(asks, gap=5.0) == {"jobs_asked": 2, "handed_over": 1, "asked_by_two_at_once": 1}


def test_a_job_handed_back_long_after_is_not_an_overlap() -> None:
    asks = [(0, 1.0, "r", ["j1"]), (1, 20.0, "r", ["j1"]), (0, 40.0, "r", ["j1"])]
    assert ask_overlaps(asks, gap=5.0)["asked_by_two_at_once"] == 0


def test_status_writes_count_duplicates_and_regressions_across_replicas() -> None:
    views = {
        "replica-1": {"s-a": ("e", [(1.0, "PENDING"), (5.0, "IN_PROGRESS")])},
        "replica-2": {"s-a": ("e", [(6.0, "IN_PROGRESS"), (7.0, "PENDING"), (9.0, "LAUNCHED")])},
    }
    assert status_writes(views) == {"server_status_writes": 5, "duplicates": 1, "regressions": 1}


def test_overlaps_are_counted_in_the_phase_of_the_second_replicas_ask() -> None:
    asks = [(0, 1.0, "r", ["j1"]), (1, 1.5, "r", ["j1"]), (0, 2.0, "r", ["j1"])]
    got = ask_overlaps(asks, gap=5.0, phases=[("start-up", 0.0), ("drill", 1.2), ("after the kill", 9.0)])
    assert got["at_once_by_phase"] == {"drill": 1}
