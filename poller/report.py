"""The recovery-time report (GET /executions/{id}/report) rendered for people: JSON, Markdown, HTML.

The HTML is one self-contained file (inline CSS and SVG, no script, no network): a timeline with
waves and servers as bars from the execution's start to the moment each became usable, split at
the job log's LAUNCH_START, and the recovery-time target as a vertical line. Every value taken
from the report is escaped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

FORMATS = ("json", "md", "html")


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=True) + "\n"
    if fmt == "md":
        return markdown(report)
    if fmt == "html":
        return html(report)
    raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")


def _when(ts: Any) -> str:
    if not isinstance(ts, int | float):
        return "-"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _secs(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    minutes, seconds = divmod(float(value), 60)
    return f"{int(minutes)} min {seconds:.1f} s" if minutes else f"{seconds:.1f} s"


def _met(value: Any) -> str:
    return {True: "met", False: "MISSED", None: "no target"}.get(value, "-")


def _offset(ts: Any, start: float) -> str:
    return f"+{float(ts) - start:.1f} s" if isinstance(ts, int | float) else "-"


def markdown(report: dict[str, Any]) -> str:
    start = float(report.get("StartTime") or 0)
    lines = [
        f"# Recovery report: {report.get('ExecutionType')} {report.get('ExecutionId')}",
        "",
        f"- Plan: {report.get('PlanId')}",
        f"- Status: {report.get('Status')}, started {_when(report.get('StartTime'))}",
        f"- Achieved recovery time: {_secs(report.get('RecoverySeconds'))}"
        f" (target {_secs(report.get('RtoTargetSeconds'))}: {_met(report.get('RtoMet'))})",
        "",
    ]
    for wave in report.get("Waves", []):
        lines += [
            f"## Wave {wave.get('WaveName')} ({wave.get('Region')}): {wave.get('Status')}",
            "",
            f"Recovery time {_secs(wave.get('RecoverySeconds'))}, target {_secs(wave.get('RtoTargetSeconds'))}:"
            f" {_met(wave.get('RtoMet'))}; slowest server {wave.get('SlowestServerId')}",
            "",
            "| Server | Status | Requested | Job created | Launch start | Launched | Post-launch done | Recovery time |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in wave.get("Servers", []):
            lines.append(
                f"| {s.get('SourceServerId')} | {s.get('Status')} | {_offset(s.get('RequestedTime'), start)}"
                f" | {_offset(s.get('JobCreatedTime'), start)} | {_offset(s.get('LaunchStartTime'), start)}"
                f" | {_offset(s.get('LaunchedTime'), start)} | {_offset(s.get('PostLaunchDoneTime'), start)}"
                f" | {_secs(s.get('RecoverySeconds'))} |"
            )
        lines.append("")
    if report.get("Errors"):
        lines += ["## Errors", ""] + [f"- {e.get('region')}: {e.get('error')}" for e in report["Errors"]]
    return "\n".join(lines) + "\n"


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #1d2733; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.met { color: #13795b; font-weight: 600; } .missed { color: #b42318; font-weight: 600; }
table { border-collapse: collapse; margin-top: 8px; } td, th { border: 1px solid #d0d7de; padding: 3px 8px; }
th { background: #f3f5f7; text-align: left; } svg { background: #fbfcfd; border: 1px solid #d0d7de; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: middle; }
"""


def _verdict(value: Any) -> str:
    cls = "met" if value is True else "missed" if value is False else ""
    return f'<span class="{cls}">{escape(_met(value))}</span>'


def _timeline(report: dict[str, Any]) -> str:
    start = float(report.get("StartTime") or 0)
    rows: list[tuple[str, bool, dict[str, Any]]] = []
    for wave in report.get("Waves", []):
        rows.append((f"wave {wave.get('WaveName')}", True, wave))
        rows.extend((f"  {s.get('SourceServerId')}", False, s) for s in wave.get("Servers", []))
    ends = [float(s.get("UsableTime") or s.get("LaunchedTime") or start) - start for _, w, s in rows if not w]
    target = report.get("RtoTargetSeconds")
    span = max([1.0, *ends, float(target or 0)]) * 1.08
    label_w, width, row_h = 230, 640, 22
    height = row_h * (len(rows) + 2)
    x = lambda seconds: label_w + width * max(0.0, seconds) / span  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 20}" height="{height}" role="img"'
        ' aria-label="recovery timeline">'
    ]
    for k in range(6):  # axis
        sec = span * k / 5
        parts.append(
            f'<line x1="{x(sec):.1f}" y1="0" x2="{x(sec):.1f}" y2="{height - row_h}" stroke="#e3e8ee"/>'
            f'<text x="{x(sec):.1f}" y="{height - 6}" font-size="11" text-anchor="middle">{escape(_secs(sec))}</text>'
        )
    for i, (label, is_wave, row) in enumerate(rows):
        y = row_h * i + 4
        weight = "600" if is_wave else "400"
        parts.append(f'<text x="4" y="{y + 13}" font-size="12" font-weight="{weight}">{escape(label)}</text>')
        if is_wave:
            seconds = row.get("RecoverySeconds")
            if isinstance(seconds, int | float):
                color = "#b42318" if row.get("RtoMet") is False else "#2f6fb0"
                parts.append(
                    f'<rect x="{x(0):.1f}" y="{y}" width="{x(seconds) - x(0):.1f}" height="14" fill="{color}" opacity="0.35"/>'
                )
            continue
        launch = row.get("LaunchStartTime")
        usable = row.get("UsableTime")
        end = usable if isinstance(usable, int | float) else row.get("LaunchedTime")
        if isinstance(end, int | float):
            # DRS's clock and ours may disagree (skew; drssim's scaled time): keep the split inside the bar
            mid = min(max(launch, start), end) if isinstance(launch, int | float) else end
            parts.append(
                f'<rect x="{x(0):.1f}" y="{y + 2}" width="{x(mid - start) - x(0):.1f}" height="10" fill="#9fb3c8">'
                f"<title>{escape(str(row.get('SourceServerId')))}: until launch start</title></rect>"
                f'<rect x="{x(mid - start):.1f}" y="{y + 2}" width="{max(1.0, x(end - start) - x(mid - start)):.1f}"'
                f' height="10" fill="{"#13795b" if isinstance(usable, int | float) else "#b42318"}">'
                f"<title>{escape(str(row.get('SourceServerId')))}: {escape(_secs(row.get('RecoverySeconds')))}</title></rect>"
            )
        else:
            parts.append(
                f'<text x="{x(0) + 4:.1f}" y="{y + 12}" font-size="11" fill="#b42318">not recovered</text>'
            )
    if isinstance(target, int | float):
        parts.append(
            f'<line x1="{x(target):.1f}" y1="0" x2="{x(target):.1f}" y2="{height - row_h}" stroke="#b42318"'
            f' stroke-width="2" stroke-dasharray="6 3"/><text x="{x(target) - 4:.1f}" y="12" font-size="11"'
            ' text-anchor="end"'
            f' fill="#b42318">target {escape(_secs(target))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def html(report: dict[str, Any]) -> str:
    title = f"Recovery report {report.get('ExecutionType')} {report.get('ExecutionId')}"
    start = float(report.get("StartTime") or 0)
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>Plan <b>{escape(str(report.get('PlanId')))}</b>, {escape(str(report.get('Status')))},"
        f" started {escape(_when(report.get('StartTime')))}.<br>Achieved recovery time"
        f" <b>{escape(_secs(report.get('RecoverySeconds')))}</b>, target {escape(_secs(report.get('RtoTargetSeconds')))}:"
        f" {_verdict(report.get('RtoMet'))}</p>",
        '<p class="legend"><span style="background:#9fb3c8"></span>start to launch start'
        '<span style="background:#13795b"></span>launch to usable<span style="background:#b42318"></span>'
        "not usable / target</p>",
        _timeline(report),
    ]
    for wave in report.get("Waves", []):
        out.append(
            f"<h2>Wave {escape(str(wave.get('WaveName')))} ({escape(str(wave.get('Region')))}):"
            f" {escape(str(wave.get('Status')))}</h2><p>Recovery time {escape(_secs(wave.get('RecoverySeconds')))},"
            f" target {escape(_secs(wave.get('RtoTargetSeconds')))}: {_verdict(wave.get('RtoMet'))}</p>"
            "<table><tr><th>Server</th><th>Status</th><th>Requested</th><th>Job created</th><th>Launch start</th>"
            "<th>Launched</th><th>Post-launch done</th><th>Recovery time</th></tr>"
        )
        for s in wave.get("Servers", []):
            cells = [
                str(s.get("SourceServerId")),
                str(s.get("Status")),
                _offset(s.get("RequestedTime"), start),
                _offset(s.get("JobCreatedTime"), start),
                _offset(s.get("LaunchStartTime"), start),
                _offset(s.get("LaunchedTime"), start),
                _offset(s.get("PostLaunchDoneTime"), start),
                _secs(s.get("RecoverySeconds")),
            ]
            out.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
        out.append("</table>")
    for error in report.get("Errors") or []:
        out.append(
            f'<p class="missed">{escape(str(error.get("region")))}: {escape(str(error.get("error")))}</p>'
        )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
