"""Parse: DRS's and DynamoDB's answers become Python objects in one C-speed ``json.loads``.

botocore walks every value of a rest-json answer through its output shape, in Python, to
convert types and rename members. For DRS's DescribeJobs that walk is the identity: every
member is a string, integer, boolean, list, map or structure under its own name (no
timestamps, blobs, floats, documents, headers or renames). At 10,000 executions one batched
answer carries ~300 jobs, and the walk held the event loop for 9 ms on an idle core
(``bench/micro_parse.py``; 30–40 ms on the loaded bench machine) where ``json.loads`` takes a
quarter of that. So for an output shape proven verbatim (checked from the service model on
every answer, ~10 µs) we keep ``json.loads``' result, dropping JSON nulls from objects as
botocore does; any other shape, and every error answer, goes through botocore unchanged.

DynamoDB's answers (``VerbatimJSONParser``) are judged the same way, per answer: see there.

Unlike botocore, members the model does not know are kept (and an unknown union member keeps
its name instead of becoming ``SDK_UNKNOWN_MEMBER``). The rules read only modeled fields, and a
newer DRS adding one must not cost a parse.
"""

from __future__ import annotations

import json
from typing import Any

from aiobotocore.parsers import AioJSONParser, AioResponseParserFactory, AioRestJSONParser
from botocore.model import Shape

from poller.aws.verbatim import BodyCheck, body_check, is_verbatim


def _without_nulls(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if value is not None}


def loads_verbatim(body: bytes) -> dict[str, Any]:
    """The body as botocore would return it for a verbatim shape (minus ResponseMetadata)."""
    if not body:
        return {}
    # the hook costs a Python call per object: only a body that may hold a null needs it
    parsed = json.loads(body, object_pairs_hook=_without_nulls) if b"null" in body else json.loads(body)
    return parsed if isinstance(parsed, dict) else {}


class VerbatimRestJSONParser(AioRestJSONParser):
    """aiobotocore's rest-json parser, with the verbatim shortcut for successful answers."""

    def _do_parse(self, response: dict[str, Any], shape: Shape | None) -> Any:
        # judged on every answer (~10 µs for DescribeJobs): nothing to keep or invalidate
        if not is_verbatim(shape):
            return super()._do_parse(response, shape)
        parsed = loads_verbatim(response["body"])
        parsed["ResponseMetadata"] = self._populate_response_metadata(response)
        return parsed


class VerbatimJSONParser(AioJSONParser):
    """aiobotocore's JSON-protocol (DynamoDB) parser, with the verbatim shortcut.

    DynamoDB's outputs convert only blobs (``B``, ``BS``) and capacity-unit doubles, so an
    answer in which none of those keys appears (``poller.aws.verbatim.BodyCheck``) is botocore's
    walk's result already: a finder page of 500 items, or an execution's item, in one
    ``json.loads``. Unlike botocore, a map value that is JSON null is dropped (DynamoDB never
    sends one: a null attribute is ``{"NULL": true}``).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._checks: dict[str, BodyCheck] = {}  # per output shape, from the model

    def _handle_json_body(self, raw_body: bytes, shape: Shape) -> Any:
        check = self._checks.get(shape.name)
        if check is None:
            check = self._checks[shape.name] = body_check(shape)
        if raw_body and check.allows(raw_body):
            try:
                return loads_verbatim(raw_body)
            except ValueError:  # not JSON: botocore reports the text as the message
                pass
        return super()._handle_json_body(raw_body, shape)


class VerbatimParserFactory(AioResponseParserFactory):
    """Hands out the verbatim parsers for rest-json (DRS) and json (DynamoDB), aiobotocore's
    for the rest."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "rest-json":
            return VerbatimRestJSONParser(**self._defaults)
        if protocol_name == "json":
            return VerbatimJSONParser(**self._defaults)
        return super().create_parser(protocol_name)
