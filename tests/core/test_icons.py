"""The icon set: local SVG files drawn inline, one icon per page in the navigation, every
icon hidden from assistive technology beside a text label, and no glyph standing in for
an icon (Unicode symbols show as empty boxes with many fonts)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template

from billing_site.icons import ICON_DIR, ICONS, icon_markup
from billing_site.navigation import NAV_ITEMS
from billing_site.roles import Role

ROOT = Path(settings.BASE_DIR)
# Geometric shapes, dingbats, misc. symbols and technical, arrows in boxes, emoji: what the
# old icons were made of. Plain arrows (→) and the middle dot stay text.
GLYPH = re.compile("[\u2300-\u23ff\u2460-\u27bf\u2900-\u2bff\U0001f300-\U0001faff]")


def _templates() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("templates/**/*.html")
        if ".venv" not in path.parts and "node_modules" not in path.parts
    ]


def test_every_page_in_the_navigation_has_its_own_icon():
    icons = [item.icon for item in NAV_ITEMS]
    assert all(name in ICONS for name in icons), set(icons) - set(ICONS)
    drawn = [ICONS[name] for name in icons]
    twice = {name for name in drawn if drawn.count(name) > 1}
    assert not twice, f"one drawing for several pages: {twice}"


def test_every_icon_named_in_a_template_is_in_the_set():
    named = set()
    for path in _templates():
        named |= set(re.findall(r'{%\s*icon\s+"([^"]+)"', path.read_text(encoding="utf-8")))
    assert named, "no {% icon %} found: the search is broken"
    assert named <= set(ICONS), named - set(ICONS)


def test_every_icon_file_is_vendored_with_its_licence():
    assert "ISC License" in (ICON_DIR / "LICENSE").read_text(encoding="utf-8")
    for filename in set(ICONS.values()):
        text = (ICON_DIR / f"{filename}.svg").read_text(encoding="utf-8")
        assert "@license lucide-static" in text, filename
        assert "http" not in icon_markup(next(k for k, v in ICONS.items() if v == filename))


def test_no_template_uses_a_glyph_as_an_icon():
    found = []
    for path in _templates():
        if "pdf" in path.parts:
            continue  # customer documents print text only
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if GLYPH.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {GLYPH.findall(line)}")
    assert not found, "\n".join(found)


def test_the_icon_tag_draws_hidden_svg_and_words_for_an_icon_alone():
    html = Template('{% load billing %}{% icon "lock" %}|{% icon "lock" label="Locked" %}').render(
        Context()
    )
    plain, labelled = html.split("|")
    assert plain.startswith('<svg class="icon icon-lock"')
    assert 'aria-hidden="true"' in plain and 'focusable="false"' in plain
    assert "<path " in plain and "<rect " in plain
    assert labelled == plain + '<span class="visually-hidden">Locked</span>'


def test_an_unknown_icon_is_an_error_not_a_blank():
    with pytest.raises(ValueError, match="'clock' is not in the icon set"):
        Template('{% load billing %}{% icon "clock" %}').render(Context())


@pytest.mark.django_db
def test_the_navigation_draws_an_svg_per_entry_and_no_glyph(client_as, staff_a):
    html = client_as(staff_a.user(Role.OWNER)).get("/").content.decode()
    nav = html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]
    entries = re.findall(r"<a href=[^>]*>(.*?)</a>", nav, re.S)
    assert len(entries) >= 15
    for entry in entries:
        assert entry.strip().startswith('<svg class="icon icon-'), entry
        assert re.sub(r"<svg.*?</svg>", "", entry, flags=re.S).strip()  # a text label
    assert not GLYPH.search(nav)
    assert "icon-dashboard" in nav and "icon-batches" in nav and "icon-contracts" in nav
