"""axe-core (vendored in tests/browser/vendor/axe-core/, MPL 2.0) run in a page.

The script is evaluated through the browser's debugging protocol, not added as a
``<script>`` tag, so the page's Content Security Policy stays as strict as in production.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

AXE_JS = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


@cache
def _source() -> str:
    return AXE_JS.read_text(encoding="utf-8")


def violations(page) -> list[dict]:
    """axe's violations on the page as it is now (WCAG 2.x A/AA and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_source() + "\n;0")
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations']});
          return result.violations.map(v => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                      summary: n.failureSummary}))
          }));
        }"""
    )


def describe(where: str, found: list[dict]) -> str:
    lines = []
    for v in found:
        lines.append(f"{where}: {v['impact']} {v['id']} — {v['help']} ({len(v['nodes'])} elements)")
        for node in v["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['html']}")
            if node["summary"]:
                lines.append("      " + node["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


def blocking(page) -> list[dict]:
    """The serious and critical violations: what a page must never ship with."""
    return [v for v in violations(page) if v["impact"] in BLOCKING]
