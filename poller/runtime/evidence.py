"""Recovery-time metrics, recorded when an execution ends (a terminal hook of the daemon)."""

from __future__ import annotations

from poller import metrics
from poller.domain.evidence import achieved_recovery
from poller.domain.model import Execution


def observe_recovery_time(execution: Execution) -> None:
    """The histogram by type and outcome, and the plan's last achieved time and target result.

    An execution where some server never became usable has no recovery time: only the
    target result (missed, when it has one) is recorded.
    """
    seconds, met = achieved_recovery(execution)
    if seconds is not None:
        metrics.RECOVERY_TIME.labels(execution.ExecutionType, execution.Status).observe(seconds)
        metrics.PLAN_LAST_RECOVERY.labels(execution.PlanId).set(seconds)
    if met is not None:
        metrics.PLAN_RTO_MET.labels(execution.PlanId).set(1 if met else 0)
