"""The rendered recovery report: escaping, self-containment, and the HTML looked at in a real headless
browser (Debian's ``chromium``; the browser test is skipped where it is not installed)."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from poller.domain.evidence import recovery_report
from poller.domain.model import Execution, Server, Wave
from poller.domain.statuses import ExecutionStatus, ExecutionType, ServerStatus, WaveStatus
from poller.report import render
from tests.unit.builders import START, instance_id, job_id, server_id

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _report() -> dict[str, object]:
    waves = []
    n = 0
    for w, name in enumerate(("db <script>alert(1)</script>", "app")):
        servers = []
        for k in range(3):
            n += 1
            launched = k < 2 or w == 0
            servers.append(
                Server(
                    SourceServerId=server_id(n),
                    RecoveryJobId=job_id(w),
                    Status=ServerStatus.LAUNCHED if launched else ServerStatus.FAILED,
                    InstanceId=instance_id(n) if launched else None,
                    LaunchedTime=START + 900 + 120 * w + 30 * k if launched else None,
                )
            )
        waves.append(
            Wave(
                WaveName=name,
                Region="us-east-1",
                Status=WaveStatus.COMPLETED,
                Servers=servers,
                JobStartedTime=START + 1,
            )
        )
    execution = Execution(
        ExecutionId="exec-1",
        PlanId="plan-1",
        ExecutionType=ExecutionType.DRILL,
        Status=ExecutionStatus.PARTIAL,
        StartTime=START,
        EndTime=START + 1300,
        RtoTargetSeconds=1000,
        Waves=waves,
    )
    logs = {
        job_id(w): [
            {
                "event": "LAUNCH_START",
                "logDateTime": "2023-11-14T22:28:20Z",
                "eventData": {"sourceServerID": server_id(3 * w + k + 1)},
            }
            for k in range(3)
        ]
        for w in range(2)
    }
    return recovery_report(execution, {}, logs)


def test_html_escapes_every_value_and_fetches_nothing() -> None:
    page = render(_report(), "html")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "src=" not in page and "href=" not in page and "@import" not in page
    assert page.count("<svg") == 1 and "target 16 min 40.0 s" in page
    assert "MISSED" in page  # a server of wave "app" never launched


def test_markdown_and_json_carry_the_same_verdicts() -> None:
    report = _report()
    md = render(report, "md")
    assert "Achieved recovery time: -" in md and "MISSED" in md
    assert '"RtoMet": false' in render(report, "json")
    with pytest.raises(ValueError, match="unknown format"):
        render(report, "pdf")


def _png_pixels(path: Path) -> tuple[int, int, set[bytes]]:
    """Width, height and the distinct RGB(A) pixels of a non-interlaced 8-bit PNG (enough for chromium's)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and color in (2, 6)
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    colors: set[bytes] = set()
    previous = bytearray(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        if row % 8 == 0:
            colors.update(bytes(line[i : i + 3]) for i in range(0, stride, channels * 4))
        previous = line
    return width, height, colors


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_html_report_renders_in_a_headless_browser(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render(_report(), "html"), encoding="utf-8")
    common = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "<svg" in dom and dom.count("<rect") >= 5 and "target 16 min 40.0 s" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1000,800", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    width, height, colors = _png_pixels(shot)
    assert (width, height) == (1000, 800)
    # the bar colours of the timeline are painted: launch-to-usable green and the target's red
    assert bytes((0x13, 0x79, 0x5B)) in colors and bytes((0xB4, 0x23, 0x18)) in colors
