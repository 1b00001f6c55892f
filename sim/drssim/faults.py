"""Fault injection (throttling, 5xx, latency) and the DRS call log.

Faults are decided before a request touches state, so a throttled or failed call never
mutates anything (as with real DRS, where the front door rejects it). Each rule fires for
the next ``count`` matching calls and/or with probability ``rate``, optionally only for
some operations and regions.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class FaultRule:
    """A fault that fires for the next ``count`` matching calls or with probability ``rate``."""

    count: int = 0
    rate: float = 0.0
    operations: frozenset[str] | None = None
    regions: frozenset[str] | None = None

    def matches(self, operation: str, region: str) -> bool:
        """Whether this rule applies to the call at all."""
        if self.operations is not None and operation not in self.operations:
            return False
        return self.regions is None or region in self.regions

    def fire(self, rng: random.Random) -> bool:
        """Consume one count if any is left, else roll against ``rate``."""
        if self.count > 0:
            self.count -= 1
            return True
        return self.rate > 0 and rng.random() < self.rate

    def to_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/faults``."""
        return {
            "count": self.count,
            "rate": self.rate,
            "operations": sorted(self.operations) if self.operations is not None else None,
            "regions": sorted(self.regions) if self.regions is not None else None,
        }


@dataclass(slots=True)
class ThrottleRule(FaultRule):
    """Answer 429 ThrottlingException with ``retryAfterSeconds``."""

    retry_after_seconds: int = 1

    def to_json(self) -> dict[str, Any]:
        return {**FaultRule.to_json(self), "retryAfterSeconds": self.retry_after_seconds}


@dataclass(slots=True)
class ErrorRule(FaultRule):
    """Answer a 5xx (InternalServerException for 500, ServiceUnavailable otherwise)."""

    status: int = 500

    def to_json(self) -> dict[str, Any]:
        return {**FaultRule.to_json(self), "status": self.status}


@dataclass(slots=True)
class LatencyRule:
    """Delay every matching call by ``ms`` milliseconds."""

    ms: float
    operations: frozenset[str] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/faults``."""
        ops = sorted(self.operations) if self.operations is not None else None
        return {"ms": self.ms, "operations": ops}


@dataclass(slots=True)
class Decision:
    """What the fault layer decided for one call."""

    delay_s: float = 0.0
    throttle: ThrottleRule | None = None
    error: ErrorRule | None = None


@dataclass(slots=True)
class Faults:
    """The active fault rules; rules are evaluated in insertion order."""

    rng: random.Random
    throttles: list[ThrottleRule] = field(default_factory=list)
    errors: list[ErrorRule] = field(default_factory=list)
    latency: list[LatencyRule] = field(default_factory=list)

    def decide(self, operation: str, region: str) -> Decision:
        """Pick the faults for one call (consumes counts)."""
        d = Decision()
        for lat in self.latency:
            if lat.operations is None or operation in lat.operations:
                d.delay_s += lat.ms / 1000.0
        for th in self.throttles:
            if th.matches(operation, region) and th.fire(self.rng):
                d.throttle = th
                return d
        for er in self.errors:
            if er.matches(operation, region) and er.fire(self.rng):
                d.error = er
                return d
        return d

    def clear(self) -> None:
        """Remove every rule."""
        self.throttles.clear()
        self.errors.clear()
        self.latency.clear()

    def to_json(self) -> dict[str, Any]:
        """JSON view for ``GET /_sim/faults``."""
        return {
            "throttling": [t.to_json() for t in self.throttles],
            "errors": [e.to_json() for e in self.errors],
            "latency": [lat.to_json() for lat in self.latency],
        }


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One DRS API call as seen by the simulator."""

    seq: int
    operation: str
    region: str
    wall_time: float
    job_ids: int
    outcome: str  # "OK" or the error code
    status: int
    duration_ms: float
    account: str | None = None  # whose credentials (None: the call never got that far)

    def to_json(self) -> dict[str, Any]:
        """JSON view with camelCase keys like the rest of the control API."""
        d = asdict(self)
        return {
            "seq": d["seq"],
            "operation": d["operation"],
            "region": d["region"],
            "wallTime": d["wall_time"],
            "jobIDs": d["job_ids"],
            "outcome": d["outcome"],
            "status": d["status"],
            "durationMs": d["duration_ms"],
            "account": d["account"],
        }


class CallLog:
    """Bounded in-memory log of DRS calls (bounded so long demos cannot exhaust memory)."""

    def __init__(self, maxlen: int = 200_000) -> None:
        self._records: deque[CallRecord] = deque(maxlen=maxlen)
        self._seq = 0

    def add(
        self,
        operation: str,
        region: str,
        wall: float,
        job_ids: int,
        outcome: str,
        status: int,
        ms: float,
        account: str | None = None,
    ) -> None:
        """Append a record."""
        self._seq += 1
        record = CallRecord(self._seq, operation, region, wall, job_ids, outcome, status, ms, account)
        self._records.append(record)

    def query(self, operation: str | None = None, region: str | None = None) -> list[CallRecord]:
        """Records in call order, optionally filtered."""
        return [
            r
            for r in self._records
            if (operation is None or r.operation == operation) and (region is None or r.region == region)
        ]

    def clear(self) -> None:
        """Forget every record."""
        self._records.clear()
