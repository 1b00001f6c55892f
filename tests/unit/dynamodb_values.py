"""Hypothesis strategies for DynamoDB AttributeValues, for the verbatim body tests.

The request side (``test_serialize``) holds blobs as bytes, as boto3 hands them to botocore; the
answer side (``test_parse``) holds them as base64 text, as DynamoDB sends them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st


def attribute_values(
    text: st.SearchStrategy[str], blob: Callable[[bytes], Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """Nested AttributeValues whose strings come from ``text``; with blobs (``B``, ``BS``)
    written by ``blob`` when one is given."""
    scalars = [
        st.builds(lambda s: {"S": s}, text),
        st.builds(lambda n: {"N": str(n)}, st.integers(-(10**12), 10**12)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.just({"NULL": True}),
        st.builds(lambda ss: {"SS": ss}, st.lists(text, min_size=1, max_size=3, unique=True)),
    ]
    if blob is not None:
        scalars.append(st.builds(lambda b: {"B": blob(b)}, st.binary(max_size=6)))
        scalars.append(
            st.builds(
                lambda bs: {"BS": [blob(b) for b in bs]},
                st.lists(st.binary(max_size=4), min_size=1, max_size=2),
            )
        )
    return st.recursive(
        st.one_of(*scalars),
        lambda inner: st.one_of(
            st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
            st.builds(lambda m: {"M": m}, st.dictionaries(text, inner, max_size=3)),
        ),
        max_leaves=12,
    )
