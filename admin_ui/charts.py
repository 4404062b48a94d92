"""The reporting trend chart as inline SVG, drawn on the server (no script, no download)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from models.admin import TrendPoint

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 14, 34


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(rate: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - max(0.0, min(1.0, rate)))


def trend_svg(points: Sequence[TrendPoint], reported_label: str, studied_label: str) -> Markup:
    """Two lines over the periods: the share who reported, and the share who studied."""
    count = len(points)
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(reported_label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick / 100)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>'
        )
    for index, point in enumerate(points):
        label = point.period[5:] if index and point.period[5:] != "01" else point.period
        parts.append(
            f'<text class="axis" x="{_x(index, count):.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for css, attr, name in (
        ("reported", "rate", reported_label),
        ("studied", "studied_rate", studied_label),
    ):
        # A month before anyone was registered has no rate: the line breaks there.
        runs: list[list[tuple[float, float, TrendPoint]]] = [[]]
        for index, point in enumerate(points):
            if point.members:
                runs[-1].append((_x(index, count), _y(getattr(point, attr)), point))
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in run)
                parts.append(f'<polyline class="line {css}" points="{path}"/>')
        for x, y, point in (dot for run in runs for dot in run):
            value = getattr(point, attr) * 100
            parts.append(
                f'<circle class="dot {css}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(name)} {escape(point.period)}: {value:.0f}%</title></circle>"
            )
    legend_y = HEIGHT - 4
    parts.append(
        f'<rect class="key reported" x="{LEFT}" y="{legend_y - 9}" width="10" height="10"/>'
        f'<text class="legend" x="{LEFT + 14}" y="{legend_y}">{escape(reported_label)}</text>'
        f'<rect class="key studied" x="{LEFT + 160}" y="{legend_y - 9}" width="10" height="10"/>'
        f'<text class="legend" x="{LEFT + 174}" y="{legend_y}">{escape(studied_label)}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))
