"""Behaviour-preserving speed-ups for moto's DynamoDB, used only by the local stand-in.

Why: moto 5.2.5 is very slow for items with nested lists and maps, and our execution items are
exactly that (2 waves x 5 servers). Two hot spots, found by profiling:

1. The generic response serializer (``moto.core.serialize``, reached through
   ``DynamoResult.execute_result``) walks every AttributeValue of every returned item through
   ``XFormedAttributePicker`` alias look-ups: ~30 ms per returned item. A GetItem of one
   execution item took 42 ms; with the fast path 10.6 ms.
2. ``Item.project`` converts the WHOLE item (deepcopy-based ``to_regular_json``) once per
   projection expression: a Query over the status index with
   ``ProjectionExpression="ExecutionId, #s, StartTime"`` cost ~6 ms per item (300 items: 1.2 s)
   although it needs three top-level attributes.

The patches change how fast moto answers, not what (byte for byte; the one exception, a map key
"" that moto garbles, is noted in the code): the serializer still runs moto's own code for
everything but the item payloads (AttributeValue maps), which it hands to ``json.dumps`` as they
are (bytes base64-encoded); anything else it cannot encode plainly falls back to moto's serializer. ``Item.project`` converts only the top-level attribute each expression
names and then applies moto's own ``find_nested_key``/``merge_dicts``, so the result is the same.
``tests/unit/test_local_moto_speedups.py`` pins the equivalence; ``bench/micro_moto.py`` measures.

They are installed by ``poller.local.make_moto_server`` only, i.e. into the process that runs the
local moto stand-in (demo, integration tests, benchmarks): the daemon talking to AWS never imports
moto. ``POLLER_MOTO_SPEEDUPS=0`` disables them.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

ENV_VAR = "POLLER_MOTO_SPEEDUPS"

# DynamoDB data-plane operations whose results carry items; everything else keeps moto's path.
# (BatchWriteItem and TransactWriteItems answer with a plain ActionResult, not a DynamoResult, so
# they never reach the patched method; they are listed for completeness.)
FAST_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)

# find_nested_key's own test for a list-index path element: 'name[3]' -> ('name', '3').
_LIST_ELEMENT = re.compile(r"(.+)\[(\d+)\]$")

_originals: dict[str, Any] = {}
_fast_serializers: dict[type, type] = {}


class _NotPlain(Exception):
    """A value in an item payload that plain ``json.dumps`` (plus bytes) cannot encode."""


def _encode_bytes(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        # What ResponseSerializer._base64 produces for a blob.
        return base64.b64encode(value).strip().decode("utf-8")
    raise _NotPlain(type(value).__name__)


def _fast_serializer_class(base: type) -> type:
    """``base`` (moto's JSONSerializer) with AttributeValue maps passed through, not walked."""
    cls = _fast_serializers.get(base)
    if cls is not None:
        return cls

    class FastItemSerializer(base):
        def _serialize(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
            # An item, a key or any other AttributeName -> AttributeValue map: moto holds it as
            # {"name": {"S": "..."}, ...} already (DynamoType expanded by dynamo_to_dict), which
            # is its wire form except for bytes, which _encode_bytes handles in json.dumps.
            # (One known difference: moto's walk garbles a map key "" inside an M value into an
            # unparseable body; passed through, it stays {"": {...}}. Our items have none.)
            if (
                key
                and isinstance(value, dict)
                and shape.type_name == "map"
                and getattr(shape.value, "name", None) == "AttributeValue"
            ):
                serialized[self.get_serialized_name(shape, key)] = value
                return
            super()._serialize(serialized, value, shape, key)

        def _serialize_body(self, body: Any) -> str:
            return json.dumps(body, indent=4 if self.pretty_print else None, default=_encode_bytes)

    FastItemSerializer.__name__ = FastItemSerializer.__qualname__ = f"FastItem{base.__name__}"
    _fast_serializers[base] = FastItemSerializer
    return FastItemSerializer


def _fast_execute_result(self: Any, context: Any) -> Any:
    from moto import settings
    from moto.core.serialize import XFormedAttributePicker

    original = _originals["execute_result"]
    transformers = getattr(context.response, "RESPONSE_KEY_PATH_TO_TRANSFORMER", None)
    if (
        context.operation_model.name not in FAST_OPERATIONS
        or not isinstance(self.result, dict)
        or transformers  # a transformer could target a path inside an item: walk it all
    ):
        return original(self, context)
    # The same construction as ActionResult.execute_result, with the item payloads passed through.
    serializer = _fast_serializer_class(context.serializer_class)(
        operation_model=context.operation_model,
        pretty_print=settings.PRETTIFY_RESPONSES,
        value_picker=XFormedAttributePicker(response_transformers=transformers),
    )
    try:
        serialized = serializer.serialize(self.result)
    except _NotPlain:
        return original(self, context)
    return serialized["status_code"], serialized["headers"], serialized["body"]


def _fast_project(self: Any, projection_expressions: list[list[str]]) -> Any:
    from moto.dynamodb.models import dynamo_type as dt

    # As Item.project, but each expression gets a fresh conversion of only the top-level
    # attribute it names instead of the whole item: find_nested_key looks at no other key of
    # its dict, and a fresh one per expression keeps merge_dicts' aliasing exactly as before.
    result: dict[str, Any] = {}
    for expr in projection_expressions:
        match = _LIST_ELEMENT.match(expr[0])
        name = match.group(1) if match else expr[0]
        attribute = self.attrs.get(name)
        dct = {} if attribute is None else {name: dt.deserializer.deserialize(attribute.to_regular_json())}
        x = dt.find_nested_key(expr, dct)
        dt.merge_dicts(result, x)
    return dt.Item(
        hash_key=self.hash_key,
        range_key=self.range_key,
        attrs=dt.serializer.serialize(result)["M"],
    )


def is_installed() -> bool:
    return bool(_originals)


def install() -> None:
    """Patch moto in this process; a no-op if already installed."""
    if _originals:
        return
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult

    _originals["execute_result"] = DynamoResult.execute_result
    _originals["execute_result_own"] = DynamoResult.__dict__.get("execute_result")
    _originals["project"] = Item.project
    DynamoResult.execute_result = _fast_execute_result  # type: ignore[method-assign]
    Item.project = _fast_project  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own methods (for tests and benchmarks comparing both)."""
    if not _originals:
        return
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoResult

    own = _originals["execute_result_own"]
    if own is None:
        del DynamoResult.execute_result  # inherited from ActionResult again
    else:
        DynamoResult.execute_result = own  # type: ignore[method-assign]
    Item.project = _originals["project"]  # type: ignore[method-assign]
    _originals.clear()
