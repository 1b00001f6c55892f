"""poller.store.dynamodb's AttributeValue conversions answer exactly what boto3's do, faster."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
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
def test_serialize_answers_what_boto3_answers(item: dict[str, Any]) -> None:
    boto3 = TypeSerializer()
    assert serialize(item) == {k: boto3.serialize(v) for k, v in item.items()}


@given(_items)
def test_deserialize_inverts_serialize_like_boto3(item: dict[str, Any]) -> None:
    raw = serialize(item)
    boto3 = TypeDeserializer()
    assert deserialize(raw) == {k: boto3.deserialize(v) for k, v in raw.items()}


@pytest.mark.parametrize("value", [1.5, Decimal("NaN"), Decimal("Infinity"), object()])
def test_serialize_rejects_what_boto3_rejects(value: Any) -> None:
    with pytest.raises(TypeError):
        TypeSerializer().serialize(value)
    with pytest.raises(TypeError):
        serialize({"a": value})


def test_serialize_keeps_binary_and_sets_on_boto3s_path() -> None:
    item = {"b": Binary(b"\x00"), "ss": {"x", "y"}, "ns": {Decimal(1)}}
    assert serialize(item) == {k: TypeSerializer().serialize(v) for k, v in item.items()}
