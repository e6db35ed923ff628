"""Small server-rendered SVG charts for the dashboard: no JavaScript, no library, readable as markup."""

from __future__ import annotations

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from runs.models import RunStatus

STATUS_ORDER = [RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.RUNNING, RunStatus.PENDING]
COLORS = {
    RunStatus.SUCCEEDED: "#2f9e5b",
    RunStatus.FAILED: "#d64541",
    RunStatus.CANCELLED: "#d9a21b",
    RunStatus.RUNNING: "#2f6fd6",
    RunStatus.PENDING: "#93a4c3",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 560, 180, 44, 22, 8


def _scale(top: float) -> float:
    """A round number at or above `top` for the y axis."""
    if top <= 0:
        return 1
    magnitude = 10 ** (len(str(int(top))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * magnitude >= top:
            return step * magnitude
    return 10 * magnitude


def _frame(points: int, top: float, label) -> tuple[list[str], float, float]:
    """Axis, gridlines and day labels; returns the parts, the bar width and the y scale."""
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    parts = []
    for fraction in (0, 0.5, 1):
        y = TOP + plot_h * (1 - fraction)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - 4}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ee"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(label(top * fraction))}</text>')
    slot = plot_w / max(points, 1)
    return parts, slot, plot_h / top


def _day_label(day: date, index: int, count: int) -> str:
    return day.strftime("%d %b") if index in (0, count // 2, count - 1) else ""


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def stacked_bars(points: list[tuple[date, list[int]]], series: list[str]) -> SafeString:
    top = _scale(max((sum(values) for _, values in points), default=0))
    parts, slot, unit = _frame(len(points), top, _number)
    for index, (day, values) in enumerate(points):
        x = LEFT + index * slot + slot * 0.15
        y = HEIGHT - BOTTOM
        for name, value in zip(series, values, strict=True):
            if not value:
                continue
            height = value * unit
            y -= height
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{COLORS[name]}">'
                f"<title>{escape(day.isoformat())}: {value} {escape(str(name).lower())}</title></rect>"
            )
        label = _day_label(day, index, len(points))
        if label:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>'
            )
    return _svg(parts, "Runs per day by status")


def bars(points: list[tuple[date, int]]) -> SafeString:
    top = _scale(max((value for _, value in points), default=0))
    parts, slot, unit = _frame(len(points), top, _number)
    for index, (day, value) in enumerate(points):
        x = LEFT + index * slot + slot * 0.15
        if value:
            height = value * unit
            parts.append(
                f'<rect x="{x:.1f}" y="{HEIGHT - BOTTOM - height:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" '
                f'fill="#2457d6"><title>{escape(day.isoformat())}: {value:,} rows</title></rect>'
            )
        label = _day_label(day, index, len(points))
        if label:
            parts.append(
                f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>'
            )
    return _svg(parts, "Rows loaded per day")


def legend() -> list[tuple[str, str]]:
    return [(str(RunStatus(name).label), COLORS[name]) for name in STATUS_ORDER]


def _svg(parts: list[str], title: str) -> SafeString:
    body = "".join(parts)
    return mark_safe(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )
