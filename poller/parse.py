"""Parse: a DescribeJobs answer becomes Python objects in one C-speed ``json.loads``.

botocore walks every value of a rest-json answer through its output shape, in Python, to
convert types and rename members. For DRS's DescribeJobs that walk is the identity: every
member is a string, integer, boolean, list, map or structure under its own name (no
timestamps, blobs, floats, documents, headers or renames). At 10,000 executions one batched
answer carries ~300 jobs, and the walk held the event loop for 9 ms on an idle core
(``bench/micro_parse.py``; 30–40 ms on the loaded bench machine) where ``json.loads`` takes a
quarter of that. So for an output shape proven verbatim (checked from the service model on
every answer, ~10 µs) we keep ``json.loads``' result, dropping JSON nulls from objects as
botocore does; any other shape, and every error answer, goes through botocore unchanged.

Unlike botocore, members the model does not know are kept (and an unknown union member keeps
its name instead of becoming ``SDK_UNKNOWN_MEMBER``). The rules read only modeled fields, and a
newer DRS adding one must not cost a parse.
"""

from __future__ import annotations

import json
from typing import Any

from aiobotocore.parsers import AioResponseParserFactory, AioRestJSONParser
from botocore.model import Shape

from poller.verbatim import is_verbatim


def _without_nulls(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return {key: value for key, value in pairs if value is not None}


def loads_verbatim(body: bytes) -> dict[str, Any]:
    """The body as botocore would return it for a verbatim shape (minus ResponseMetadata)."""
    if not body:
        return {}
    parsed = json.loads(body, object_pairs_hook=_without_nulls)
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


class VerbatimParserFactory(AioResponseParserFactory):
    """Hands out the verbatim parser for rest-json (DRS) and aiobotocore's for the rest."""

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name == "rest-json":
            return VerbatimRestJSONParser(**self._defaults)
        return super().create_parser(protocol_name)
