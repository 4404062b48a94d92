"""The reporting trend chart as inline SVG, drawn on the server (no script, no download)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from models.period import Period
from models.reads.dashboard import TrendPoint

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 14, 34


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(rate: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - max(0.0, min(1.0, rate)))


def trend_svg(
    points: Sequence[TrendPoint], reported_label: str, studied_label: str, running_label: str
) -> Markup:
    """Two lines over the periods: the share who reported, and the share who studied.

    The month under way is drawn apart (a shaded column, hollow points on a dashed line,
    and `running_label` over it), so its partial figures do not read as a missed month.
    """
    count = len(points)
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(reported_label)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    step = (WIDTH - LEFT - RIGHT) / (count - 1) if count > 1 else WIDTH - LEFT - RIGHT
    for index, point in enumerate(points):
        if point.running:
            x = _x(index, count)
            left = max(LEFT, x - step / 2)
            parts.append(
                f'<rect class="running-band" x="{left:.1f}" y="{TOP}" '
                f'width="{min(WIDTH - RIGHT, x + step / 2) - left:.1f}" '
                f'height="{HEIGHT - TOP - BOTTOM}"/>'
                f'<text class="running-label" x="{min(x, WIDTH - RIGHT):.1f}" y="{TOP - 3}" '
                f'text-anchor="end">{escape(running_label)}</text>'
            )
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick / 100)
        parts.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}%</text>'
        )
    for index, point in enumerate(points):
        month = Period.parse(point.period).short()
        label = month if index and month != "01" else point.period
        parts.append(
            f'<text class="axis" x="{_x(index, count):.1f}" y="{HEIGHT - BOTTOM + 16}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    for css, attr, name in (
        ("reported", "rate", reported_label),
        ("studied", "studied_rate", studied_label),
    ):
        # A month before anyone was registered has no rate: the line breaks there.
        # The running month is joined to the line by a dashed segment of its own.
        runs: list[list[tuple[float, float, TrendPoint]]] = [[]]
        for index, point in enumerate(points):
            if point.members:
                dot = (_x(index, count), _y(getattr(point, attr)), point)
                if point.running and runs[-1]:
                    (x0, y0, _), (x1, y1, _) = runs[-1][-1], dot
                    parts.append(
                        f'<line class="line {css} running" x1="{x0:.1f}" y1="{y0:.1f}" '
                        f'x2="{x1:.1f}" y2="{y1:.1f}"/>'
                    )
                    runs.append([])
                runs[-1].append(dot)
            elif runs[-1]:
                runs.append([])
        for run in runs:
            if len(run) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in run)
                parts.append(f'<polyline class="line {css}" points="{path}"/>')
        for x, y, point in (dot for run in runs for dot in run):
            value = getattr(point, attr) * 100
            running = " running" if point.running else ""
            note = f" ({escape(running_label)})" if point.running else ""
            parts.append(
                f'<circle class="dot {css}{running}" cx="{x:.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(name)} {escape(point.period)}: {value:.0f}%{note}</title>"
                "</circle>"
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


BAR_ROW, BAR_LABEL = 22, 120


def bars_svg(rows: Sequence[tuple[str, float]], title: str) -> Markup:
    """One horizontal bar per named row, its length the share (0-1) written beside it."""
    height = TOP + BAR_ROW * max(1, len(rows)) + 8
    span = WIDTH - BAR_LABEL - 60
    parts = [
        f'<svg class="bars" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, (name, share) in enumerate(rows):
        y = TOP + BAR_ROW * index
        width = span * max(0.0, min(1.0, share))
        parts.append(
            f'<text class="axis" x="{BAR_LABEL - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect class="bar-fill" x="{BAR_LABEL}" y="{y + 3}" width="{width:.1f}" height="14">'
            f"<title>{escape(name)}: {share * 100:.0f}%</title></rect>"
            f'<text class="axis" x="{BAR_LABEL + width + 6:.1f}" y="{y + 14}">'
            f"{share * 100:.0f}%</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
