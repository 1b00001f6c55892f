"""Serialize: a DynamoDB request body in one C-speed ``json.dumps``.

Every transition is one UpdateItem carrying the execution's changed waves as AttributeValue
maps. botocore's JSON serializer walks each of those values through the input shape, in
Python, to copy it unchanged: for DynamoDB's inputs the only values it converts are blobs
(``B``, ``BS``: base64). So when the request holds no blob, ``json.dumps`` of the parameters
is byte for byte botocore's body (same keys, same order, same separators), several times
faster. The shape is judged from botocore's model (``poller.aws.verbatim``) once per operation;
a body that holds a blob's key, or a value JSON cannot hold (bytes, Decimal, datetime), goes
through botocore's walk unchanged.

Unlike botocore without parameter validation, a parameter the model does not know is sent as
given rather than raising ``KeyError``: DynamoDB then rejects it with a ValidationException.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.model import OperationModel
from botocore.serialize import JSONSerializer

from poller.aws.verbatim import NEVER, BodyCheck, body_check


class VerbatimJSONSerializer(JSONSerializer):
    """botocore's JSON serializer, with the verbatim shortcut for bodies that hold no blob."""

    def __init__(self) -> None:
        super().__init__()
        self._checks: dict[str, BodyCheck] = {}  # per operation, from the model

    def serialize_to_request(self, parameters: dict[str, Any], operation_model: OperationModel) -> Any:
        body = self._verbatim_body(parameters, operation_model)
        if body is None:
            return super().serialize_to_request(parameters, operation_model)
        serialized = super().serialize_to_request({}, operation_model)  # method, target, headers
        serialized["body"] = body
        return serialized

    def _verbatim_body(self, parameters: dict[str, Any], operation_model: OperationModel) -> bytes | None:
        name = operation_model.name
        if name not in self._checks:
            # a host prefix may read the parameters: leave such operations to botocore
            shape = operation_model.input_shape
            self._checks[name] = NEVER if operation_model.endpoint else body_check(shape)
        return verbatim_body(parameters, self._checks[name])


def verbatim_body(parameters: dict[str, Any], check: BodyCheck) -> bytes | None:
    """botocore's body for ``parameters``, or None when only botocore's walk can make it."""
    if not check.possible or not parameters:
        return None
    try:
        body = json.dumps(parameters).encode("utf-8")
    except (TypeError, ValueError):  # bytes, Decimal, datetime, a circular value...
        return None
    return body if check.allows(body) else None


def use_verbatim_serializer(client: Any) -> bool:
    """Give a JSON-protocol client (DynamoDB) the verbatim serializer; True if it took.

    botocore offers no hook for its serializer, so this replaces the client's own, and only
    when it is exactly botocore's unvalidated JSONSerializer (a validating client keeps its
    validation; any other protocol or a newer botocore keeps what it has).
    """
    if type(getattr(client, "_serializer", None)) is not JSONSerializer:
        return False
    client._serializer = VerbatimJSONSerializer()
    return True
