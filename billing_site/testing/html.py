"""What a rendered page may never contain: script that runs without coming from a file.

The Content-Security-Policy (``script-src 'self'``) refuses inline scripts, ``on*``
handlers and ``javascript:`` URLs, so a page that has them is broken in the browser;
and user text that turns into one of them is an injection. Tests parse the HTML as a
browser would (attribute values unescaped) and list every such place.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Script elements of these types hold data, not code (e.g. Django's json_script).
DATA_SCRIPT_TYPES = {"application/json", "application/ld+json"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "srcset"}
UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:text/html")
# htmx evaluates these prefixes in hx-vals / hx-headers (and hx-on:* always) as code.
HTMX_EVAL_ATTRIBUTES = {"hx-vals", "hx-headers", "hx-vars"}
# Browsers drop ASCII tab, newline and other control characters inside a URL scheme.
_IGNORED_IN_URL = re.compile(r"[\x00-\x20]+")


def is_unsafe_url(value: str) -> bool:
    """True when a URL would run script if followed (``javascript:``, even disguised)."""
    return _IGNORED_IN_URL.sub("", value).lower().startswith(UNSAFE_SCHEMES)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            value = value or ""
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…>: inline event handler")
            elif name.startswith("hx-on"):
                self.problems.append(f"<{tag} {name}=…>: htmx inline handler (eval)")
            elif name in HTMX_EVAL_ATTRIBUTES and value.lstrip().startswith(("js:", "javascript:")):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>: htmx evaluated value")
            elif name in URL_ATTRIBUTES and is_unsafe_url(value):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>: script URL")
        if tag == "script":
            attributes = dict(attrs)
            kind = (attributes.get("type") or "").strip().lower()
            if not attributes.get("src") and kind not in DATA_SCRIPT_TYPES:
                self.problems.append("<script> without src: inline script")

    handle_startendtag = handle_starttag


def executable_markup(html: str) -> list[str]:
    """Every inline script, inline handler and script URL in ``html`` (empty when clean)."""
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.problems
