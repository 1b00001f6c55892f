"""Synchronous client for the ``/_sim/`` control API (stdlib only).

Synchronous on purpose: it is called from plain pytest tests, scripts and runbook
rehearsals, often while an async poller runs elsewhere. The test-plan vocabulary
(:meth:`SimControl.drs_progression`, :meth:`SimControl.advance_drs_phase`,
:meth:`SimControl.advance_post_launch_phase`) lives here so tests read like the plan.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class SimControlError(RuntimeError):
    """The control API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"drssim control error {status}: {message}")
        self.status = status
        self.message = message


class SimControl:
    """Client for one drssim instance, e.g. ``SimControl("http://127.0.0.1:4566")``."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # ---- transport --------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, **query: Any) -> Any:
        params = {k: v for k, v in query.items() if v is not None}
        url = f"{self.base_url}/_sim/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            payload = err.read().decode(errors="replace")
            try:
                message = json.loads(payload).get("error", payload)
            except ValueError:
                message = payload
            raise SimControlError(err.code, message) from None

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._request("POST", path, body or {})

    # ---- general ----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Liveness plus current simulated time."""
        return dict(self._request("GET", "health"))

    def reset(self) -> None:
        """Forget all jobs, servers, faults and calls; back to auto mode."""
        self._post("reset")

    def config(self) -> dict[str, Any]:
        """Current settings (strictSourceServers, timeScale, seed, manual)."""
        return dict(self._request("GET", "config"))

    def set_strict_source_servers(self, strict: bool) -> None:
        """Strict: StartRecovery with unknown source servers fails (ConflictException)."""
        self._post("config", {"strictSourceServers": strict})

    def set_quotas(
        self,
        max_concurrent_jobs: int | None = None,
        max_servers_in_jobs: int | None = None,
        one_job_per_server: bool = False,
    ) -> None:
        """Enforce DRS's limits on StartRecovery (402/409 as DRS answers); no arguments: off."""
        quotas = {
            "maxConcurrentJobs": max_concurrent_jobs,
            "maxServersInJobs": max_servers_in_jobs,
            "oneJobPerServer": one_job_per_server,
        }
        self._post("config", {"quotas": quotas})

    def set_time_scale(self, time_scale: float) -> None:
        """Change simulated seconds per wall second from now on."""
        self._post("config", {"timeScale": time_scale})

    def clock(self) -> dict[str, Any]:
        """simTime, timeScale, epochWall, wall."""
        return dict(self._request("GET", "clock"))

    def advance_clock(self, seconds: float) -> float:
        """Jump simulated time forward; returns the new simulated time."""
        return float(self._post("clock/advance", {"seconds": seconds})["simTime"])

    # ---- source servers and jobs --------------------------------------------------------
    def create_source_servers(
        self,
        count: int = 1,
        region: str = "us-east-1",
        source_server_ids: list[str] | None = None,
        account: str | None = None,
    ) -> list[str]:
        """Register source servers (in ``account``, default drssim's own); returns their IDs."""
        body: dict[str, Any] = {"region": region, "count": count}
        if account is not None:
            body["account"] = account
        if source_server_ids is not None:
            body["sourceServerIDs"] = source_server_ids
        return list(self._post("source-servers", body)["sourceServerIDs"])

    def bulk_jobs(
        self, count: int, region: str = "us-east-1", servers_per_job: int = 1, is_drill: bool = True
    ) -> list[str]:
        """Create many jobs without going through StartRecovery (load tests, benchmarks)."""
        body = {"region": region, "count": count, "serversPerJob": servers_per_job, "isDrill": is_drill}
        return list(self._post("jobs/bulk", body)["jobIDs"])

    def set_manual(self, manual: bool) -> None:
        """Manual mode: every existing and new job is held until advanced."""
        self._post("mode", {"mode": "manual" if manual else "auto"})

    def hold(self, job_ids: list[str] | None = None) -> list[str]:
        """Freeze jobs (all when None) in their current phase."""
        return list(self._post("jobs/hold", {"jobIDs": job_ids})["jobIDs"])

    def release(self, job_ids: list[str] | None = None) -> list[str]:
        """Undo :meth:`hold`; the timeline resumes where it stopped."""
        return list(self._post("jobs/release", {"jobIDs": job_ids})["jobIDs"])

    def advance_jobs(self, phase: str, job_ids: list[str] | None = None) -> list[str]:
        """Move jobs forward to PENDING | STARTED | IN_PROGRESS | COMPLETED; returns moved IDs."""
        return list(self._post("jobs/advance", {"phase": phase, "jobIDs": job_ids})["jobIDs"])

    def fail_server(self, job_id: str, source_server_id: str, reason: str = "Launch failed") -> None:
        """Make one participating server FAILED now (409 if it already launched)."""
        self._post(
            "jobs/fail-server", {"jobID": job_id, "sourceServerID": source_server_id, "reason": reason}
        )

    def finish_post_launch(
        self, status: str = "SUCCEEDED", job_ids: list[str] | None = None, reason: str | None = None
    ) -> list[str]:
        """End post-launch runs: SUCCEEDED (or COMPLETED) / FAILED."""
        body = {"status": status, "jobIDs": job_ids, "reason": reason}
        return list(self._post("jobs/post-launch", body)["jobIDs"])

    # ---- test-plan vocabulary -------------------------------------------------------------
    @contextmanager
    def drs_progression(self) -> Iterator[SimControl]:
        """Manual mode for the block: nothing moves unless advanced; auto mode restored after."""
        self.set_manual(True)
        try:
            yield self
        finally:
            self.set_manual(False)

    def advance_drs_phase(self, phase: str, job_ids: list[str] | None = None) -> list[str]:
        """Test-plan name for :meth:`advance_jobs` (COMPLETED = servers LAUNCHED, job COMPLETED)."""
        return self.advance_jobs(phase, job_ids)

    def advance_post_launch_phase(self, status: str, job_ids: list[str] | None = None) -> list[str]:
        """Test-plan name: COMPLETED (runs SUCCEEDED) or FAILED (runs FAILED)."""
        return self.finish_post_launch(status, job_ids)

    # ---- observation ----------------------------------------------------------------------
    def truth(
        self, region: str | None = None, job_ids: list[str] | None = None, account: str | None = None
    ) -> list[dict[str, Any]]:
        """Ground truth of jobs (each naming its account) with per-change wall-clock timestamps."""
        ids = ",".join(job_ids) if job_ids else None
        return list(self._request("GET", "truth", region=region, jobIDs=ids, account=account)["jobs"])

    def job_truth(self, job_id: str) -> dict[str, Any]:
        """Ground truth of one job (KeyError if unknown)."""
        jobs = self.truth(job_ids=[job_id])
        if not jobs:
            raise KeyError(job_id)
        return dict(jobs[0])

    def calls(self, operation: str | None = None, region: str | None = None) -> list[dict[str, Any]]:
        """The DRS call log in call order (operation, region, wallTime, jobIDs, outcome...)."""
        return list(self._request("GET", "calls", operation=operation, region=region)["calls"])

    def launch_events_sent(self) -> dict[str, Any]:
        """The launch-result emitter's counts (sent, dropped, duplicated, failedSends) and each sent
        entry (jobID, sourceServerID, state, wallTime its PutEvents returned)."""
        return dict(self._request("GET", "events"))

    def clear_calls(self) -> None:
        """Empty the call log."""
        self._request("DELETE", "calls")

    # ---- faults ---------------------------------------------------------------------------
    def inject_throttling(
        self,
        count: int = 0,
        rate: float = 0.0,
        operations: list[str] | None = None,
        retry_after_seconds: int = 1,
        regions: list[str] | None = None,
    ) -> None:
        """Throttle the next ``count`` matching calls and/or a ``rate`` fraction of them."""
        body = {
            "count": count,
            "rate": rate,
            "operations": operations,
            "regions": regions,
            "retryAfterSeconds": retry_after_seconds,
        }
        self._post("faults/throttling", body)

    def inject_errors(
        self,
        count: int = 0,
        rate: float = 0.0,
        operations: list[str] | None = None,
        status: int = 500,
        regions: list[str] | None = None,
    ) -> None:
        """Answer 5xx to the next ``count`` matching calls and/or a ``rate`` fraction."""
        body = {"count": count, "rate": rate, "operations": operations, "regions": regions, "status": status}
        self._post("faults/errors", body)

    def inject_latency(self, ms: float, operations: list[str] | None = None) -> None:
        """Delay every matching call by ``ms`` milliseconds."""
        self._post("faults/latency", {"ms": ms, "operations": operations})

    def faults(self) -> dict[str, Any]:
        """Active fault rules (counts left)."""
        return dict(self._request("GET", "faults"))

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._request("DELETE", "faults")
