"""Who may take an execution over: the liveness rules, without I/O."""

from __future__ import annotations

from decimal import Decimal

from poller.store.lease import held_by_other, is_replica_record, replica_key

NOW = 1_000.0


def test_an_execution_without_owner_or_owned_by_me_is_free() -> None:
    assert not held_by_other({}, "me", NOW, {})
    assert not held_by_other({"LeaseOwner": "me", "LeaseExpiry": Decimal(5_000)}, "me", NOW, {})


def test_an_owner_with_a_live_liveness_record_keeps_its_executions_whatever_the_item_says() -> None:
    item = {"LeaseOwner": "other", "LeaseExpiry": Decimal(10)}  # claimed long ago, never rewritten
    assert held_by_other(item, "me", NOW, {"other": NOW + 30})


def test_an_owner_whose_record_expired_loses_its_executions() -> None:
    item = {"LeaseOwner": "other", "LeaseExpiry": Decimal(5_000)}
    assert not held_by_other(item, "me", NOW, {"other": NOW - 1})
    assert not held_by_other(item, "me", NOW, {"other": 0.0})  # retired at shutdown


def test_an_owner_without_a_record_is_judged_by_the_item_lease_expiry() -> None:
    assert held_by_other({"LeaseOwner": "other", "LeaseExpiry": Decimal(1_001)}, "me", NOW, {"other": None})
    assert not held_by_other({"LeaseOwner": "other", "LeaseExpiry": Decimal(999)}, "me", NOW, {"other": None})
    assert not held_by_other({"LeaseOwner": "other"}, "me", NOW, {"other": None})


def test_an_owner_whose_record_could_not_be_read_is_presumed_alive() -> None:
    """A DynamoDB hiccup while reading liveness must never make a replica steal."""
    assert held_by_other({"LeaseOwner": "other", "LeaseExpiry": Decimal(1)}, "me", NOW, {})


def test_without_liveness_data_the_item_lease_expiry_decides() -> None:
    assert held_by_other({"LeaseOwner": "other", "LeaseExpiry": 1_001}, "me", NOW)
    assert not held_by_other({"LeaseOwner": "other", "LeaseExpiry": 999.5}, "me", NOW)


def test_liveness_records_have_a_reserved_key_no_execution_id_takes() -> None:
    assert is_replica_record(replica_key("host-1-abc"))
    assert not is_replica_record("3f1c2a9e-0000-4000-8000-000000000000")
