"""Reading report pages back: their tables' cells and their charts, parsed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

SVG = "{http://www.w3.org/2000/svg}"


class _Tables(HTMLParser):
    """Text of each cell of each ``<tbody>`` row, by table id."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table = None
        self._in_body = False
        self._row = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables.setdefault(self._table, [])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, table_id: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables[table_id]


_SVG = re.compile(r"<svg\b.*?</svg>", re.S)
# A chart's root is <svg class="chart" ...> (billing_site/charts.py); the page's other
# inline SVGs are the {% icon %} decorations.
_CHART = re.compile(r'<svg\b[^>]*\sclass="(?:[^"]*\s)?chart(?:\s[^"]*)?"')


def svgs(html: str) -> list[str]:
    """The markup of every inline ``<svg>`` of the page: charts and icons."""
    return _SVG.findall(html)


def is_chart(svg: str) -> bool:
    return _CHART.match(svg) is not None


def charts(html: str) -> list[ET.Element]:
    """Every inline chart of the page, parsed as XML (it must be well-formed)."""
    return [ET.fromstring(svg) for svg in svgs(html) if is_chart(svg)]
