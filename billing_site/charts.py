"""Bar charts as inline SVG, drawn on the server: no script, no library, no CDN.

A chart is a ``<svg>`` with a ``viewBox`` (it scales to its container's width), an
accessible name (``role="img"``, ``aria-label`` and a ``<title>``), a value axis with
grid lines, a label under each bar and, on every bar, a ``<title>`` tooltip with its
exact value. Colours are SVG presentation attributes, which ``static/css/charts.css``
overrides by class: no ``style`` attribute, so the site's CSP needs nothing more.

Geometry uses floats (pixels only); the values shown in tooltips are formatted from the
values passed in, so a Decimal amount is shown exactly as given. Every text is escaped.
A page should show the same figures in a table under the chart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

Number = int | float | Decimal

WIDTH = 720
PLOT_HEIGHT = 240
MARGIN_LEFT = 72
MARGIN_RIGHT = 16
MARGIN_TOP = 16
LEGEND_HEIGHT = 26
LABEL_HEIGHT = 28
ROTATED_LABEL_HEIGHT = 84
MAX_LABEL_CHARS = 18
# Fallback fills (the CSS classes chart-series-0.. override them with the site palette).
PALETTE = ("#1f4e79", "#7fb3e6", "#a76400", "#1e7d4f", "#b42318", "#5b6877")


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per category."""

    name: str
    values: Sequence[Number]


def plain_number(value: Number) -> str:
    """A value as plain text: '1,234', '12.5' (tooltips and ticks when nothing is given)."""
    number = Decimal(str(value)) if not isinstance(value, Decimal) else value
    if number == number.to_integral_value():
        return f"{int(number):,}"
    return f"{number.normalize():,f}"


def bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    values: Sequence[Number],
    series_name: str = "",
    format_value: Callable[[Number], str] = plain_number,
    format_tick: Callable[[float], str] | None = None,
) -> SafeString:
    """One bar per category (negative values hang below the zero line)."""
    return stacked_bar_chart(
        label=label,
        categories=categories,
        series=[Series(series_name, values)],
        format_value=format_value,
        format_tick=format_tick,
    )


def stacked_bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    series: Sequence[Series],
    format_value: Callable[[Number], str] = plain_number,
    format_tick: Callable[[float], str] | None = None,
) -> SafeString:
    """One bar per category made of one segment per series (positive values stack up
    from zero, negative ones down). A legend names the series when there are several."""
    for one in series:
        if len(one.values) != len(categories):
            raise ValueError(
                f"Series {one.name!r} has {len(one.values)} values for {len(categories)} categories."
            )
    format_tick = format_tick or _tick_text
    count = len(categories)
    legend = LEGEND_HEIGHT if len(series) > 1 else 0
    rotated = count > 8 or (count > 4 and any(len(c) > 10 for c in categories))
    bottom = ROTATED_LABEL_HEIGHT if rotated else LABEL_HEIGHT
    top = MARGIN_TOP + legend
    height = top + PLOT_HEIGHT + bottom
    parts: list[SafeString] = [format_html("<title>{}</title>", label)]

    if count == 0 or not series:
        parts.append(
            format_html(
                '<text class="chart-empty" x="{}" y="{}" text-anchor="middle">No data</text>',
                _px(WIDTH / 2),
                _px(top + PLOT_HEIGHT / 2),
            )
        )
        return _svg(label, height, parts)

    # Stack totals per category decide the scale.
    highs, lows = [0.0] * count, [0.0] * count
    for one in series:
        for index, value in enumerate(one.values):
            number = float(value or 0)
            if number >= 0:
                highs[index] += number
            else:
                lows[index] += number
    ticks = nice_ticks(min(lows), max(highs))
    low, high = ticks[0], ticks[-1]
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT

    def y_of(value: float) -> float:
        return top + PLOT_HEIGHT * (high - value) / (high - low)

    for tick in ticks:
        y = y_of(tick)
        parts.append(
            format_html(
                '<line class="chart-grid{}" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#dde3ea"/>',
                " chart-zero" if tick == 0 else "",
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                _px(y),
                _px(y),
            )
        )
        parts.append(
            format_html(
                '<text class="chart-tick" x="{}" y="{}" text-anchor="end" '
                'dominant-baseline="middle" fill="#5b6877">{}</text>',
                MARGIN_LEFT - 8,
                _px(y),
                format_tick(tick),
            )
        )

    band = plot_width / count
    bar_width = min(band * 0.64, 72.0)
    for index, category in enumerate(categories):
        x = MARGIN_LEFT + band * index + (band - bar_width) / 2
        up = down = 0.0
        for number_of_series, one in enumerate(series):
            value = one.values[index]
            number = float(value or 0)
            if number == 0:
                continue
            if number > 0:
                start, up = up, up + number
                y_top, y_bottom = y_of(up), y_of(start)
            else:
                start, down = down, down + number
                y_top, y_bottom = y_of(start), y_of(down)
            name = f"{category} · {one.name}" if one.name else category
            parts.append(
                format_html(
                    '<rect class="chart-bar chart-series-{}" x="{}" y="{}" width="{}" '
                    'height="{}" fill="{}"><title>{}: {}</title></rect>',
                    number_of_series,
                    _px(x),
                    _px(y_top),
                    _px(bar_width),
                    _px(max(y_bottom - y_top, 0.5)),
                    PALETTE[number_of_series % len(PALETTE)],
                    name,
                    format_value(value),
                )
            )
        parts.append(_category_label(category, MARGIN_LEFT + band * (index + 0.5), top, rotated))

    if legend:
        parts.append(_legend(series))
    return _svg(label, height, parts)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] and zero, about ``count`` intervals
    (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low <= 0:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def _tick_text(value: float) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.4g}M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:,.4g}k"
    return plain_number(Decimal(str(value)))


def _category_label(category: str, x: float, top: float, rotated: bool) -> SafeString:
    text = category if len(category) <= MAX_LABEL_CHARS else category[: MAX_LABEL_CHARS - 1] + "…"
    y = top + PLOT_HEIGHT + 16
    if rotated:
        return format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="end" fill="#1d2733" '
            'transform="rotate(-40 {} {})"><title>{}</title>{}</text>',
            _px(x),
            _px(y),
            _px(x),
            _px(y),
            category,
            text,
        )
    return format_html(
        '<text class="chart-label" x="{}" y="{}" text-anchor="middle" fill="#1d2733">'
        "<title>{}</title>{}</text>",
        _px(x),
        _px(y),
        category,
        text,
    )


def _legend(series: Sequence[Series]) -> SafeString:
    items = []
    x = float(MARGIN_LEFT)
    for index, one in enumerate(series):
        items.append(
            format_html(
                '<rect class="chart-series-{}" x="{}" y="{}" width="12" height="12" '
                'fill="{}"/><text class="chart-legend" x="{}" y="{}" fill="#1d2733">{}</text>',
                index,
                _px(x),
                MARGIN_TOP - 4,
                PALETTE[index % len(PALETTE)],
                _px(x + 18),
                MARGIN_TOP + 6,
                one.name,
            )
        )
        x += 36 + 7 * len(one.name)
    return format_html('<g class="chart-legend-items">{}</g>', _join(items))


def _svg(label: str, height: float, parts: list[SafeString]) -> SafeString:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {} {}" '
        'width="100%" preserveAspectRatio="xMidYMid meet" role="img" aria-label="{}" '
        'font-size="12">{}</svg>',
        WIDTH,
        _px(height),
        label,
        _join(parts),
    )


def _join(parts: Sequence[SafeString]) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _px(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
