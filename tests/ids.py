"""The one place tests build DRS identifiers, shaped by botocore's ``drs`` model: job IDs
``drsjob-[0-9a-zA-Z]{17}``, source server IDs ``s-[0-9a-zA-Z]{17}``, recovery instance IDs
``i-[0-9a-f]{8,}``.

Numbered IDs (``job_id(3)``) are for tests that name what they build; ``source_server_id()`` is a
fresh one for tests against drssim, which allows one active job per source server.
"""

from __future__ import annotations

import random

_FRESH = random.Random()
_HEX = "0123456789abcdef"


def job_id(n: int) -> str:
    return f"drsjob-{n:017d}"


def server_id(n: int) -> str:
    return f"s-{n:017d}"


def instance_id(n: int) -> str:
    return f"i-{n:017x}"


def source_server_id(rng: random.Random | None = None) -> str:
    """A source server ID not used before (as DRS writes them: lowercase hex); ``rng`` to repeat a run."""
    return "s-" + "".join((rng or _FRESH).choices(_HEX, k=17))
