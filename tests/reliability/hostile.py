"""Hostile execution items: hypothesis strategies for items a person or a bug could write.

Each strategy mutates a well-formed POLLING item (so the finder's StatusIndex still sees it:
``Status`` and ``StartTime`` keep their key types) in one of the ways real tables get damaged:
unreadable items, and readable ones no retry can help (a job ID DRS refuses, a number DynamoDB
cannot increment, a region the daemon does not serve, a lease field of the wrong type).
:func:`draw_hostile_items` makes one seeded, bounded draw for an integration test.
"""

from __future__ import annotations

import copy
import time
import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from poller.domain.model import MalformedItemError, execution_from_item
from poller.domain.trackable import untrackable
from tests.ids import source_server_id

KINDS = (
    "missing_field",
    "mistyped_field",
    "unknown_status",
    "huge_wave_list",
    "duplicate_servers",
    "non_string_ids",
    "nested_garbage",
    "bad_job_id",
    "huge_number",
    "unserved_region",
    "wrong_lease_type",
)
#: the regions the test daemon serves (tests/conftest.py make_settings)
SERVED_REGIONS = ("us-east-1", "us-west-2")
BAD_JOB_IDS = st.sampled_from(
    [
        "not-a-job",
        "drsjob-" + "a" * 9_993,  # 10,000 characters: passes botocore, refused by DRS
        "drsjob-" + "a" * 17 + "\n",
        "drsjob-" + "a" * 16 + "-",
        "drsjob-" + "a" * 18,
    ]
) | st.text(min_size=1, max_size=40).filter(lambda t: not t.startswith("drsjob-"))

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_key = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)  # moto breaks on ""
_scalar = (
    st.none() | st.booleans() | st.integers(-(10**12), 10**12).map(Decimal) | _text | st.binary(max_size=8)
)
#: arbitrary DynamoDB values, nested (DynamoDB allows 32 levels; we stay far below)
garbage = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=12,
)
#: values that are never a string (for string fields)
not_a_string = garbage.filter(lambda v: not isinstance(v, str))
#: values that are never a list (for list fields)
not_a_list = garbage.filter(lambda v: not isinstance(v, list))


def base_item(region: str = "us-east-1") -> dict[str, Any]:
    """A well-formed POLLING drill item with two servers of one (never started) job."""
    job = "drsjob-" + uuid.uuid4().hex[:17]
    return {
        "ExecutionId": "hostile-" + uuid.uuid4().hex[:12],
        "PlanId": "plan-hostile",
        "ExecutionType": "DRILL",
        "Status": "POLLING",
        "StartTime": Decimal(str(round(time.time(), 3))),
        "Version": Decimal(0),
        "Waves": [
            {
                "WaveName": "Wave-1",
                "Region": region,
                "Status": "LAUNCHING",
                "Servers": [
                    {
                        "SourceServerId": source_server_id(),
                        "RecoveryJobId": job,
                        "Status": "LAUNCHING",
                    }
                    for _ in range(2)
                ],
            }
        ],
    }


def is_malformed(item: dict[str, Any], regions: tuple[str, ...] = SERVED_REGIONS) -> bool:
    """Unreadable, or readable but untrackable by a daemon serving ``regions``."""
    try:
        execution = execution_from_item(item)
    except MalformedItemError:
        return True
    return untrackable(execution, regions) is not None


@st.composite
def hostile_item(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    kind = draw(st.sampled_from(KINDS))
    item = base_item()
    wave = item["Waves"][0]
    server = wave["Servers"][0]
    if kind == "missing_field":
        where, name = draw(
            st.sampled_from(
                [
                    (item, "PlanId"),
                    (item, "ExecutionType"),
                    (item, "Waves"),
                    (wave, "Region"),
                    (wave, "Servers"),
                    (wave, "WaveName"),
                    (server, "SourceServerId"),
                ]
            )
        )
        del where[name]
    elif kind == "mistyped_field":
        where, name, bad = draw(
            st.sampled_from(
                [
                    (item, "ExecutionType", not_a_string),
                    (item, "Waves", not_a_list),
                    (item, "Version", garbage.filter(lambda v: not isinstance(v, Decimal | bool))),
                    (wave, "Servers", not_a_list),
                    (wave, "Region", not_a_string),
                    (server, "Status", not_a_string),
                    (server, "PollAttempts", st.sampled_from([Decimal(-1), Decimal("1.5"), [], {}])),
                ]
            )
        )
        where[name] = draw(bad)
    elif kind == "unknown_status":
        where, name = draw(
            st.sampled_from(
                [
                    (item, "ExecutionType"),
                    (wave, "Status"),
                    (server, "Status"),
                    (server, "PostLaunchActionsStatus"),
                ]
            )
        )
        where[name] = "X-" + draw(_text)
    elif kind == "huge_wave_list":
        # 100-200 good waves and one broken one at the end: the reader must not stop early.
        # (10,001-server items, over the model's bound, are unit-tested: moto takes ~10 s per query.)
        n = draw(st.integers(100, 200))
        item["Waves"] = [
            {"WaveName": f"w{i}", "Region": "us-east-1", "Servers": [{"SourceServerId": f"s{i}"}]}
            for i in range(n)
        ]
        item["Waves"][-1]["Servers"] = draw(st.sampled_from([[], "none", [{"SourceServerId": ""}]]))
    elif kind == "duplicate_servers":
        twin = copy.deepcopy(server)
        if draw(st.booleans()):
            wave["Servers"].append(twin)
        else:
            item["Waves"].append({"WaveName": "Wave-2", "Region": "us-west-2", "Servers": [twin]})
    elif kind == "non_string_ids":
        where, name = draw(
            st.sampled_from(
                [(item, "PlanId"), (wave, "WaveName"), (server, "SourceServerId"), (server, "RecoveryJobId")]
            )
        )
        where[name] = draw(
            st.integers(0, 10**9).map(Decimal) | st.binary(min_size=1, max_size=8) | st.just([1])
        )
    elif kind == "bad_job_id":
        bad = draw(BAD_JOB_IDS)
        for s in wave["Servers"][: draw(st.integers(1, 2))]:
            s["RecoveryJobId"] = bad
    elif kind == "huge_number":
        where, name = draw(st.sampled_from([(item, "Version"), (server, "PollAttempts")]))
        where[name] = Decimal(draw(st.sampled_from(["9.9E+125", "1E+38", "9" * 38])))
    elif kind == "unserved_region":
        wave["Region"] = draw(st.sampled_from(["eu-north-1", "ap-south-2", "sa-east-1"]))
    elif kind == "wrong_lease_type":
        if draw(st.booleans()):
            item["LeaseOwner"] = draw(garbage.filter(lambda v: v is not None and not isinstance(v, str)))
        else:
            item["LeaseOwner"] = "replica-" + uuid.uuid4().hex[:6]
            item["LeaseExpiry"] = draw(
                garbage.filter(lambda v: v is not None and not isinstance(v, Decimal | bool))
            )
    else:  # nested_garbage
        target = draw(st.sampled_from(["waves", "wave", "server"]))
        junk = draw(st.dictionaries(_key, garbage, min_size=1, max_size=4))
        if target == "waves":
            item["Waves"] = [junk]
        elif target == "wave":
            item["Waves"].append(junk)
        else:
            wave["Servers"][1] = junk
    return kind, item


def draw_hostile_items(count: int, seed_value: int = 2024) -> list[tuple[str, dict[str, Any]]]:
    """``count`` malformed items from one seeded hypothesis run (no shrinking, no database)."""
    found: list[tuple[str, dict[str, Any]]] = []

    @seed(seed_value)
    @settings(
        max_examples=200,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(st.lists(hostile_item().filter(lambda ki: is_malformed(ki[1])), min_size=1, max_size=8))
    def collect(batch: list[tuple[str, dict[str, Any]]]) -> None:
        for kind, item in batch:
            huge = sum(k == "huge_wave_list" for k, _ in found)
            if len(found) < count and (kind != "huge_wave_list" or huge < 2):  # moto is slow with them
                found.append((kind, item))

    collect()
    return found
