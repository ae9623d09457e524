"""The SVG charts: well-formed, accessible, scalable, escaped, and free of inline style."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from billing_site.charts import Series, bar_chart, nice_ticks, stacked_bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if "chart-bar" in rect.get("class", "")]


def test_a_bar_chart_is_an_accessible_scalable_svg():
    root = parse(
        bar_chart(
            label="Net revenue per month in EUR",
            categories=["Mar 2026", "Apr 2026", "May 2026"],
            values=[Decimal("2150.00"), Decimal("-200.00"), Decimal("0.00")],
            format_value=lambda value: f"€{value}",
        )
    )
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Net revenue per month in EUR"
    assert root.find(f"{SVG}title").text == "Net revenue per month in EUR"
    assert root.get("viewBox").startswith("0 0 720 ")
    assert root.get("width") == "100%"
    assert root.get("height") is None  # the height follows the width
    # One bar per non-zero value, each with its exact value as a tooltip.
    titles = [rect.find(f"{SVG}title").text for rect in bars(root)]
    assert titles == ["Mar 2026: €2150.00", "Apr 2026: €-200.00"]
    labels = [
        text.find(f"{SVG}title").text
        for text in root.iter(f"{SVG}text")
        if text.get("class") == "chart-label"
    ]
    assert labels == ["Mar 2026", "Apr 2026", "May 2026"]


def test_negative_values_hang_below_the_zero_line():
    root = parse(bar_chart(label="x", categories=["a", "b"], values=[100, -50]))
    zero = next(line for line in root.iter(f"{SVG}line") if "chart-zero" in line.get("class"))
    zero_y = float(zero.get("y1"))
    up, down = bars(root)
    assert float(up.get("y")) + float(up.get("height")) == pytest.approx(zero_y, abs=0.1)
    assert float(down.get("y")) == pytest.approx(zero_y, abs=0.1)
    assert float(down.get("height")) == pytest.approx(float(up.get("height")) / 2, abs=0.2)


def test_a_stacked_chart_stacks_its_series_and_names_them():
    root = parse(
        stacked_bar_chart(
            label="Hours per technician",
            categories=["Theo", "Tara"],
            series=[Series("Billable", [3, 7]), Series("Non-billable", [1, 0])],
            format_value=lambda value: f"{value} h",
        )
    )
    rects = bars(root)
    assert [rect.find(f"{SVG}title").text for rect in rects] == [
        "Theo · Billable: 3 h",
        "Theo · Non-billable: 1 h",
        "Tara · Billable: 7 h",
    ]
    theo_billable, theo_other = rects[0], rects[1]
    # The second segment sits right on top of the first.
    assert float(theo_other.get("y")) + float(theo_other.get("height")) == pytest.approx(
        float(theo_billable.get("y")), abs=0.1
    )
    assert {"chart-series-0", "chart-series-1"} <= {
        cls for rect in rects for cls in rect.get("class").split()
    }
    legend = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "chart-legend"]
    assert legend == ["Billable", "Non-billable"]


def test_text_is_escaped_and_nothing_is_styled_inline():
    svg = str(
        bar_chart(
            label='<script>alert("x")</script> & co',
            categories=['=HYPERLINK("x") <b>', "A & B"],
            values=[1, 2],
        )
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert "style=" not in svg
    root = parse(svg)
    assert root.get("aria-label") == '<script>alert("x")</script> & co'


def test_an_empty_chart_says_so():
    root = parse(bar_chart(label="Nothing", categories=[], values=[]))
    assert [t.text for t in root.iter(f"{SVG}text")] == ["No data"]
    assert bars(root) == []


def test_all_zero_values_still_draw_an_axis():
    root = parse(bar_chart(label="Zeros", categories=["a", "b"], values=[0, 0]))
    assert bars(root) == []
    assert any("chart-zero" in line.get("class") for line in root.iter(f"{SVG}line"))


def test_many_long_labels_are_rotated_and_shortened():
    names = [f"Technician with a long name {n}" for n in range(10)]
    root = parse(bar_chart(label="x", categories=names, values=list(range(1, 11))))
    labels = [t for t in root.iter(f"{SVG}text") if t.get("class") == "chart-label"]
    assert all(t.get("transform", "").startswith("rotate(-40") for t in labels)
    assert labels[0].find(f"{SVG}title").text == names[0]  # the full name on hover
    assert labels[0].find(f"{SVG}title").tail == "Technician with a…"


def test_series_must_match_the_categories():
    with pytest.raises(ValueError):
        stacked_bar_chart(label="x", categories=["a"], series=[Series("s", [1, 2])])


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 95, [0, 20, 40, 60, 80, 100]),
        (0, 2358, [0, 500, 1000, 1500, 2000, 2500]),
        (-240, 2150, [-500, 0, 500, 1000, 1500, 2000, 2500]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),
        (0, 0.07, [0, 0.02, 0.04, 0.06, 0.08]),
    ],
)
def test_ticks_are_round_and_cover_zero(low, high, expected):
    assert nice_ticks(low, high) == expected
