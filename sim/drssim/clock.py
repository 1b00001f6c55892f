"""The simulator's single source of time.

Everything that moves in drssim (job timelines, creation dates, change timestamps) reads
:class:`SimClock`. Time is modelled as a monotone, piecewise-linear map from a *base* time
to a *derived* time (:class:`Timebase`). The same structure serves twice:

* wall clock (``time.time()``) -> simulated seconds, with a ``time_scale`` rate and manual
  jumps (:meth:`SimClock.advance`) so tests can step time by hand;
* simulated seconds -> a job's local timeline seconds, with rate 0 while the job is held
  and jumps when a phase is forced.

Because the map is kept as explicit segments it can be inverted, which is how drssim
reports the *wall-clock* moment of every state change without a background ticker: the
poller's benchmarks compare those moments with the time it wrote the change to DynamoDB.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class _Segment:
    base: float
    derived: float
    rate: float
    stamp: float  # wall-clock moment the segment was created (for change timestamps)


class Timebase:
    """Monotone piecewise-linear map ``base -> derived`` with pauses and forward jumps.

    Not thread-safe by itself; :class:`SimClock` wraps it in a lock, job timebases are only
    touched from the simulator's event loop.
    """

    def __init__(
        self, base: float, derived: float = 0.0, rate: float = 1.0, stamp: float | None = None
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self._segments: list[_Segment] = [_Segment(base, derived, rate, base if stamp is None else stamp)]
        self._derived_starts: list[float] = [derived]

    @property
    def rate(self) -> float:
        """Current rate (0 means frozen)."""
        return self._segments[-1].rate

    def at(self, base: float) -> float:
        """Derived time at ``base`` (only meaningful for ``base`` >= the last change)."""
        seg = self._segments[-1]
        return seg.derived + max(0.0, base - seg.base) * seg.rate

    def set_rate(self, base: float, rate: float, stamp: float | None = None) -> None:
        """Change the rate from ``base`` on (0 freezes, 1 follows the base)."""
        if rate < 0:
            raise ValueError("rate must be >= 0")
        self._append(base, self.at(base), rate, stamp)

    def jump_to(self, base: float, derived: float, stamp: float | None = None) -> bool:
        """Move derived time forward to ``derived`` at ``base``; never moves backwards."""
        current = self.at(base)
        if derived <= current:
            return False
        self._append(base, derived, self.rate, stamp)
        return True

    def base_of(self, derived: float) -> float | None:
        """Earliest base time at which derived time reached ``derived``.

        ``None`` when it is not reached under the current segment (frozen). A moment
        crossed by a jump maps to the base time of the jump.
        """
        found = self.locate(derived)
        return None if found is None else found[0]

    def locate(self, derived: float) -> tuple[float, float] | None:
        """``(base, stamp)``: when ``derived`` was reached and the stamp of that segment.

        The stamp disambiguates moments when the base itself was frozen (a manual clock):
        the change cannot have become visible before the segment that produced it existed.
        """
        segs = self._segments
        i = bisect_left(self._derived_starts, derived) - 1
        if i < 0:
            return segs[0].base, segs[0].stamp
        seg = segs[i]
        if i + 1 < len(segs):
            nxt = segs[i + 1]
            end = seg.derived + (nxt.base - seg.base) * seg.rate
            if derived <= end and seg.rate > 0:
                return seg.base + (derived - seg.derived) / seg.rate, seg.stamp
            return nxt.base, nxt.stamp
        if seg.rate > 0:
            return seg.base + (derived - seg.derived) / seg.rate, seg.stamp
        return None

    def _append(self, base: float, derived: float, rate: float, stamp: float | None) -> None:
        # Always append, even at an identical base instant: with a frozen base (manual
        # clock) several holds/jumps share one base and only their stamps tell them apart.
        self._segments.append(_Segment(base, derived, rate, base if stamp is None else stamp))
        self._derived_starts.append(derived)


class SimClock:
    """Scaled real time plus manual stepping; the only clock drssim uses.

    ``now()`` is simulated seconds since the simulator started. With ``time_scale=60`` a
    20-minute drill plays in 20 wall seconds; ``advance(seconds)`` jumps simulated time
    forward instantly (works with ``time_scale=0`` for fully manual tests).
    """

    def __init__(self, time_scale: float = 1.0, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall
        self._lock = threading.Lock()
        self.epoch_wall = wall()
        self._tb = Timebase(self.epoch_wall, 0.0, time_scale)

    @property
    def time_scale(self) -> float:
        """Simulated seconds per wall second."""
        with self._lock:
            return self._tb.rate

    def wall(self) -> float:
        """Current wall-clock time (``time.time()`` unless injected)."""
        return self._wall()

    def now(self) -> float:
        """Simulated seconds since start."""
        with self._lock:
            return self._tb.at(self._wall())

    def advance(self, seconds: float) -> float:
        """Jump simulated time forward by ``seconds``; returns the new ``now()``."""
        if seconds < 0:
            raise ValueError("cannot move the clock backwards")
        with self._lock:
            w = self._wall()
            target = self._tb.at(w) + seconds
            self._tb.jump_to(w, target)
            return target

    def set_time_scale(self, time_scale: float) -> None:
        """Change the rate from now on (already elapsed simulated time is kept)."""
        with self._lock:
            self._tb.set_rate(self._wall(), time_scale)

    def wall_at(self, sim_t: float) -> float | None:
        """Wall-clock moment simulated time reached (or will reach) ``sim_t``."""
        with self._lock:
            return self._tb.base_of(sim_t)

    def sim_datetime(self, sim_t: float) -> datetime:
        """Simulated calendar time: the start wall time plus ``sim_t`` simulated seconds."""
        return datetime.fromtimestamp(self.epoch_wall + sim_t, tz=UTC)


def iso_z(dt: datetime) -> str:
    """Format as the ISO8601 ``...Z`` string DRS uses (matches ISO8601DatetimeString)."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
