"""``poller-dev demo --interactive``: a paused wave shown, resumed by the operator's answer."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.stack.compose_support import ROOT
from tests.stack.test_demo import _demo, _env


@pytest.mark.integration
@pytest.mark.slow
def test_interactive_demo_pauses_before_the_second_wave_and_resumes_on_enter() -> None:
    result = subprocess.run(
        _demo("--interactive", "--time-scale", "600", "--servers", "6", "--seed", "5", "--plain"),
        input="\n\n",  # the operator presses Enter at each prompt
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    prompts = re.findall(r"^(\S+): wave 2-application is PAUSED, waiting for an operator", out, re.M)
    assert len(prompts) == 2, out[-3000:]  # the DRILL and the RECOVERY
    assert out.count("resume 2-application: sent; the execution is POLLING") == 2
    assert re.search(r"DRILL POLLING 1-databases \S+ COMPLETED: .*2-application \S+ PAUSED", out)
    summary = out.split("Summary (time-scale 600x", 1)[1]
    assert summary.count("2-application (us-west-2) COMPLETED") == 2
    assert "2/2 executions reached a terminal state." in summary
