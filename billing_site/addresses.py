"""Structured postal addresses: the fields, and the one parser of old free-text addresses.

An address is ``street`` (street lines, one per line), ``city``, ``postcode``,
``region`` and ``country`` (ISO 3166-1 alpha-2). Tenants, organizations and the party
snapshots on invoices all store these fields.

``parse_address`` turns the free text we stored before (one ``address`` TextField) into
those fields. The migrations of ``billing_site`` and ``invoices`` import it, so it must
stay stable: change it only with a new migration in mind. The heuristic is deliberately
small and only ever moves text, it never drops any:

1. Blank lines and surrounding spaces go.
2. A last line that is a country's English name ("France", "United Kingdom") or a
   two-letter code becomes ``country``.
3. With at least two lines left, the last one is read as
   - "<postcode> <city>" when its first token holds a digit and has 4 or more
     characters, no lower-case letter ("75011 Paris", "DK-2100 København Ø"); or
   - "<city> <postcode>" when its last one or two tokens hold a digit and no lower-case
     letter ("London SW1A 1AA", "Springfield, IL 62704").
   A city written "City, XX" splits at its last comma into city and region ("IL").
   When the last line is neither but has no digit and the line before it is one, the
   last line is the region ("75011 Paris" then "Île-de-France").
4. Every other line is a street line. A line that matches neither form (or a one-line
   address) stays in ``street``: nothing is guessed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_LOWER = re.compile(r"[a-zß-ÿ]")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Address:
    street: str = ""
    city: str = ""
    postcode: str = ""
    region: str = ""
    country: str = ""

    @property
    def street_lines(self) -> tuple[str, ...]:
        return street_lines(self.street)


def street_lines(street: str) -> tuple[str, ...]:
    """The non-empty street lines of a ``street`` value."""
    return tuple(line.strip() for line in (street or "").splitlines() if line.strip())


@functools.cache
def _country_names() -> dict[str, str]:
    from babel import Locale

    territories = Locale("en").territories
    names = {name.casefold(): code for code, name in territories.items() if code.isalpha()}
    names.update({code.casefold(): code for code in territories if len(code) == 2})
    return names


def _postcode_token(token: str) -> bool:
    return bool(_DIGIT.search(token)) and not _LOWER.search(token)


def _city_region(text: str) -> tuple[str, str]:
    city, comma, region = text.rstrip(",").rpartition(",")
    if comma and city.strip() and region.strip():
        return city.strip(), region.strip()
    return text.strip().rstrip(",").strip(), ""


def _locality(line: str) -> tuple[str, str, str] | None:
    """(postcode, city, region) read from one line, or None when it is no such line."""
    tokens = line.split()
    if len(tokens) < 2:
        return None
    first = tokens[0]
    if _postcode_token(first) and len(first) >= 4:
        city, region = _city_region(" ".join(tokens[1:]))
        return first, city, region
    for count in (2, 1):
        tail = tokens[-count:]
        if len(tokens) > count and all(_postcode_token(token) for token in tail):
            city, region = _city_region(" ".join(tokens[:-count]))
            if city:
                return " ".join(tail), city, region
    return None


def parse_address(text: str) -> Address:
    """The structured fields of a free-text address (module docstring: the heuristic)."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    country = ""
    if lines and lines[-1].casefold() in _country_names():
        country = _country_names()[lines.pop().casefold()]
    postcode = city = region = ""
    if len(lines) >= 2:
        found = _locality(lines[-1])
        if found is not None:
            postcode, city, region = found
            lines.pop()
        elif len(lines) >= 3 and not _DIGIT.search(lines[-1]):
            found = _locality(lines[-2])
            if found is not None and not found[2]:
                postcode, city, _ = found
                region = lines.pop()
                lines.pop()
    return Address(
        street="\n".join(lines), city=city, postcode=postcode, region=region, country=country
    )


def format_address(address: Address) -> str:
    """The fields back as one text (the migrations' reverse): street lines, then
    "<postcode> <city>", the region and the country code."""
    locality = " ".join(part for part in (address.postcode, address.city) if part)
    parts = [*address.street_lines, locality, address.region, address.country]
    return "\n".join(part for part in parts if part)


def address_columns(text: str, *, prefix: str = "", country: str = "") -> dict[str, str]:
    """The columns ``parse_address(text)`` fills, named ``<prefix><field>``; the country
    is the one the text names, else ``country`` (the record's own, when it has one)."""
    address = parse_address(text)
    return {
        f"{prefix}street": address.street,
        f"{prefix}city": address.city,
        f"{prefix}postcode": address.postcode,
        f"{prefix}region": address.region,
        f"{prefix}country": country or address.country,
    }
