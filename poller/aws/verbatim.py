"""Which botocore shapes travel as plain JSON, so a body can skip botocore's Python walk.

botocore converts every value of a JSON-protocol body through its shape, member by member, in
Python. For most shapes that walk is the identity: strings, integers, booleans, lists, maps and
structures under their own names. Where it is, ``json.loads``/``json.dumps`` give the same
result at C speed (``poller.aws.parse`` for DRS's answers, ``poller.aws.serialize`` for DynamoDB's
requests). The judgement is made from botocore's own model, never from a hand-kept list.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from botocore.model import Shape

# Types whose JSON value botocore passes unchanged (int(5) is 5, a bool stays a bool); float
# and double are not (5 becomes 5.0), timestamps and blobs are converted.
_VERBATIM_SCALARS = frozenset({"string", "integer", "long", "boolean"})
_CONVERTED_SCALARS = frozenset({"blob", "timestamp", "float", "double"})


def is_verbatim(shape: Shape | None) -> bool:
    """True when botocore's walk of a body of this shape would only drop nulls."""
    if shape is None:
        return False
    if any(key in shape.serialization for key in ("payload", "eventstream")):
        return False
    return _verbatim(shape, in_body=False, seen=set(), converted=None, name=None)


def converted_members(shape: Shape | None) -> frozenset[str] | None:
    """The member names under which botocore converts values, when only such members would be.

    A converted value (a blob: base64; a timestamp; a float or double) is allowed as a
    structure member, or the item of a list that is one (DynamoDB's ``B`` and ``BS``, its
    ``CapacityUnits``), never as a map value: a body in which none of these names is a key
    holds nothing to convert and is verbatim. None when anything else would be converted.
    """
    if shape is None or shape.serialization:
        return None
    names: set[str] = set()
    if not _verbatim(shape, in_body=False, seen=set(), converted=names, name=None):
        return None
    return frozenset(names)


@dataclass(frozen=True)
class BodyCheck:
    """Whether a body of one shape may skip botocore's walk: never, or unless ``keys`` match.

    ``keys`` matches any converted member's name as a key in the JSON text (``"B":``,
    ``"B" :``). A real key always matches; so may other text (a map key called ``B``, a string
    holding ``x"B":``, escaped), which only costs botocore's walk, never a wrong body.
    """

    possible: bool
    keys: re.Pattern[bytes] | None = None

    def allows(self, body: bytes) -> bool:
        return self.possible and (self.keys is None or self.keys.search(body) is None)


NEVER = BodyCheck(possible=False)


def body_check(shape: Shape | None) -> BodyCheck:
    """The check for bodies of ``shape``, from botocore's model (:func:`converted_members`)."""
    names = converted_members(shape)
    if names is None:
        return NEVER
    if not names:
        return BodyCheck(possible=True)
    alternatives = b"|".join(re.escape(name.encode()) for name in sorted(names))
    return BodyCheck(possible=True, keys=re.compile(rb'"(?:' + alternatives + rb')"\s*:'))


def _verbatim(
    shape: Shape, in_body: bool, seen: set[str], converted: set[str] | None, name: str | None
) -> bool:
    if in_body and shape.serialization:  # a rename, a header, a status code...
        return False
    kind = shape.type_name
    if kind in _VERBATIM_SCALARS:
        return True
    if kind in _CONVERTED_SCALARS:
        if converted is None or name is None:
            return False
        converted.add(name)
        return True
    if kind == "list":
        return _verbatim(shape.member, True, seen, converted, name)
    if kind == "map":
        keys_verbatim = _verbatim(shape.key, True, seen, None, None)
        return keys_verbatim and _verbatim(shape.value, True, seen, converted, None)
    if kind != "structure" or shape.is_document_type:
        return False
    if shape.name in seen:  # recursive structures were already judged on the way down
        return True
    seen.add(shape.name)
    return all(_verbatim(member, True, seen, converted, key) for key, member in shape.members.items())
