"""Which botocore shapes travel as plain JSON, so a body can skip botocore's Python walk.

botocore converts every value of a JSON-protocol body through its shape, member by member, in
Python. For most shapes that walk is the identity: strings, integers, booleans, lists, maps and
structures under their own names. Where it is, ``json.loads``/``json.dumps`` give the same
result at C speed (``poller.parse`` for DRS's answers, ``poller.serialize`` for DynamoDB's
requests). The judgement is made from botocore's own model, never from a hand-kept list.
"""

from __future__ import annotations

from botocore.model import Shape

# Types whose JSON value botocore passes unchanged (int(5) is 5, a bool stays a bool); float
# and double are not (5 becomes 5.0), timestamps and blobs are converted.
_VERBATIM_SCALARS = frozenset({"string", "integer", "long", "boolean"})


def is_verbatim(shape: Shape | None) -> bool:
    """True when botocore's walk of a body of this shape would only drop nulls."""
    if shape is None:
        return False
    if any(key in shape.serialization for key in ("payload", "eventstream")):
        return False
    return _verbatim(shape, in_body=False, seen=set(), blobs=None, name=None)


def blob_members(shape: Shape | None) -> frozenset[str] | None:
    """The member names under which blobs sit, when they are all the walk would change.

    A blob (base64 on the wire) is allowed as a structure member or the item of a list that is
    one (DynamoDB's ``B`` and ``BS``), never as a map value: a body whose JSON contains none of
    these names as a key holds no blob and is verbatim. None when anything else is converted.
    """
    if shape is None or shape.serialization:
        return None
    blobs: set[str] = set()
    if not _verbatim(shape, in_body=False, seen=set(), blobs=blobs, name=None):
        return None
    return frozenset(blobs)


def _verbatim(shape: Shape, in_body: bool, seen: set[str], blobs: set[str] | None, name: str | None) -> bool:
    if in_body and shape.serialization:  # a rename, a header, a status code...
        return False
    kind = shape.type_name
    if kind in _VERBATIM_SCALARS:
        return True
    if kind == "blob":
        if blobs is None or name is None:
            return False
        blobs.add(name)
        return True
    if kind == "list":
        return _verbatim(shape.member, True, seen, blobs, name)
    if kind == "map":
        keys_verbatim = _verbatim(shape.key, True, seen, None, None)
        return keys_verbatim and _verbatim(shape.value, True, seen, blobs, None)
    if kind != "structure" or shape.is_document_type:
        return False
    if shape.name in seen:  # recursive structures were already judged on the way down
        return True
    seen.add(shape.name)
    return all(_verbatim(member, True, seen, blobs, key) for key, member in shape.members.items())
