"""The icon set: a few Lucide icons (ISC licence, static/icons/LICENSE) kept as SVG files
under static/icons/ and inlined by the ``{% icon %}`` tag, so no page loads an icon font
or a sprite from elsewhere, and every icon draws the same with any font installed.

An icon is decoration next to a text label: it is hidden from assistive technology, and
an icon without visible text gets its words from the caller (``{% icon "lock" label="Locked" %}``).
Names say what the icon means here; each page in the navigation has its own.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from django.conf import settings

ICON_DIR = Path(settings.BASE_DIR) / "static" / "icons"

# Our name -> the Lucide file it draws.
ICONS: dict[str, str] = {
    # Pages (the navigation)
    "dashboard": "layout-dashboard",
    "customers": "building-2",
    "portal-users": "contact-round",
    "staff-users": "users",
    "settings": "settings",
    "integrations": "plug",
    "deliveries": "send",
    "audit": "scroll-text",
    "invoices": "file-text",
    "receivables": "hand-coins",
    "hosts": "monitor",
    "session-logs": "history",
    "session-import": "file-up",
    "contracts": "file-signature",
    "tickets": "ticket",
    "timesheet": "calendar-clock",
    "approvals": "clipboard-check",
    "rate-rules": "scale",
    "catalog": "package",
    "batches": "layers",
    "reports": "chart-column",
    # Things and actions
    "host": "monitor",
    "host-group": "folder",
    "check": "check",
    "approve": "check-check",
    "lock": "lock",
    "partial": "contrast",
    "timer-start": "play",
    "timer-stop": "circle-stop",
    "timer": "timer",
    "log-time": "clock-plus",
    "attachment": "paperclip",
    "invoice-new": "file-plus",
    "download": "download",
    "print": "printer",
    "warning": "triangle-alert",
    "internal": "eye-off",
    "expand": "chevron-down",
    "sorted-ascending": "arrow-up",
    "sorted-descending": "arrow-down",
    "menu": "menu",
    "close": "x",
}

_INNER = re.compile(r"<svg\b[^>]*>(.*)</svg>", re.S)


@cache
def icon_markup(name: str) -> str:
    """The drawing of icon ``name`` (its SVG elements, without the outer ``<svg>``)."""
    try:
        filename = ICONS[name]
    except KeyError:
        raise ValueError(
            f"icon: {name!r} is not in the icon set ({', '.join(sorted(ICONS))})"
        ) from None
    text = (ICON_DIR / f"{filename}.svg").read_text(encoding="utf-8")
    match = _INNER.search(text)
    if match is None:
        raise ValueError(f"icon: static/icons/{filename}.svg holds no <svg> element")
    return re.sub(r"\s+", " ", match.group(1)).strip()
