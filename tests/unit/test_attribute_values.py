"""poller.store.dynamodb's AttributeValue conversions: what the store writes, it reads back.

Both directions are boto3's TypeSerializer/TypeDeserializer; these pin the contract the store
relies on (Decimals exact, floats refused, sets and binaries kept), whatever boto3 version.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary
from hypothesis import given
from hypothesis import strategies as st

from poller.store.dynamodb import deserialize, serialize

_numbers = st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-(10**12), max_value=10**12)
_scalars = st.one_of(
    st.text(max_size=8),
    _numbers,
    st.booleans(),
    st.none(),
    st.integers(-(10**6), 10**6),
    st.binary(max_size=4),
)
_values = st.recursive(
    st.one_of(_scalars, st.frozensets(st.text(min_size=1, max_size=4), min_size=1).map(set)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=30,
)
_items = st.dictionaries(st.text(min_size=1, max_size=6), _values, max_size=6)


@given(_items)
def test_deserialize_reads_back_what_serialize_wrote(item: dict[str, Any]) -> None:
    # ints come back as equal Decimals, bytes as equal Binary: == holds for both
    assert deserialize(serialize(item)) == item


def test_numbers_are_exact_decimals_both_ways() -> None:
    item = {"StartTime": Decimal("1764403200.123"), "Version": 7}
    raw = serialize(item)
    assert raw == {"StartTime": {"N": "1764403200.123"}, "Version": {"N": "7"}}
    back = deserialize(raw)
    assert back == {"StartTime": Decimal("1764403200.123"), "Version": Decimal(7)}
    assert all(type(v) is Decimal for v in back.values())


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), object()])
def test_serialize_rejects_floats_and_values_dynamodb_cannot_hold(value: Any) -> None:
    with pytest.raises(TypeError):
        serialize({"a": value})


def test_sets_and_binaries_keep_their_dynamodb_types() -> None:
    item = {"b": Binary(b"\x00"), "ss": {"x", "y"}, "ns": {Decimal(1)}}
    raw = serialize(item)
    assert raw["b"] == {"B": b"\x00"}
    assert sorted(raw["ss"]["SS"]) == ["x", "y"] and raw["ns"] == {"NS": ["1"]}
    assert deserialize(raw) == item


@pytest.mark.parametrize("raw", [{}, {"X": "1"}])
def test_deserialize_refuses_an_unknown_or_empty_attribute_value(raw: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        deserialize({"a": raw})
