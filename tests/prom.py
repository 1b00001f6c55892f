"""Reading this process's metrics in tests through prometheus-client's public API only (the daemon
under test runs in the test's event loop). A ``/metrics`` text is read with
``prometheus_client.parser`` (``tests.integration.support.metric_value``)."""

from __future__ import annotations

from prometheus_client import REGISTRY


def sample(name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly ``labels`` in the default registry (0 when the
    series does not exist yet: a labelled series appears on its first use)."""
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value
