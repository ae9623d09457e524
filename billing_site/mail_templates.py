"""The tenant's e-mail templates: text with named placeholders, checked when saved.

``{number}`` and the like are filled from the invoice when a message is written; an
unknown placeholder or a stray brace is refused when the template is saved, naming it,
so a message never goes out with "{numbr}" in it.
"""

from __future__ import annotations

import string

from django.core.exceptions import ValidationError

PLACEHOLDERS = (
    "number",
    "amount_due",
    "due_date",
    "payment_instructions",
    "portal_link",
    "customer",
    "company",
)


def _names(text: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"a brace is not closed or not paired ({exc})") from exc


def check_template(*, subject: str, body: str) -> None:
    errors = {}
    for field, text in (("invoice_email_subject", subject), ("invoice_email_body", body)):
        try:
            unknown = sorted({name for name in _names(text or "") if name not in PLACEHOLDERS})
        except ValueError as exc:
            errors[field] = f"The template cannot be read: {exc}. Use {{{{ and }}}} for a brace."
            continue
        if unknown:
            errors[field] = (
                "Unknown placeholder "
                + ", ".join("{" + name + "}" for name in unknown)
                + "; use: "
                + " ".join("{" + name + "}" for name in PLACEHOLDERS)
                + "."
            )
    if not (subject or "").strip():
        errors["invoice_email_subject"] = "The subject cannot be empty."
    if errors:
        raise ValidationError(errors)


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders filled (a checked template; unknown names stay)."""

    class Values(dict):
        def __missing__(self, key):
            return "{" + key + "}"

    return string.Formatter().vformat(text, (), Values(values))
