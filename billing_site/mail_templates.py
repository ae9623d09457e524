"""The tenant's e-mail templates: text with named placeholders, checked when saved.

``{number}`` and the like are filled from the invoice when a message is written; an
unknown placeholder or a stray brace is refused when the template is saved, naming it,
so a message never goes out with "{numbr}" in it.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

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


@dataclass(frozen=True)
class MailTemplate:
    """A pair of tenant fields (subject, body) and the placeholders they may use."""

    subject_field: str
    body_field: str
    placeholders: tuple[str, ...]


INVOICE = MailTemplate("invoice_email_subject", "invoice_email_body", PLACEHOLDERS)
# A reminder also says when the invoice is or was due ("is due on 5 Dec 2026").
REMINDER = MailTemplate("reminder_email_subject", "reminder_email_body", (*PLACEHOLDERS, "when"))
TEMPLATES = (INVOICE, REMINDER)


def _names(text: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValueError(f"a brace is not closed or not paired ({exc})") from exc


def check_template(template: MailTemplate = INVOICE, *, subject: str, body: str) -> None:
    errors = {}
    allowed = template.placeholders
    for field, text in ((template.subject_field, subject), (template.body_field, body)):
        try:
            unknown = sorted({name for name in _names(text or "") if name not in allowed})
        except ValueError as exc:
            errors[field] = f"The template cannot be read: {exc}. Use {{{{ and }}}} for a brace."
            continue
        if unknown:
            errors[field] = (
                "Unknown placeholder "
                + ", ".join("{" + name + "}" for name in unknown)
                + "; use: "
                + " ".join("{" + name + "}" for name in allowed)
                + "."
            )
    if not (subject or "").strip():
        errors[template.subject_field] = "The subject cannot be empty."
    if errors:
        raise ValidationError(errors)


def fill(text: str, values: dict[str, str]) -> str:
    """``text`` with its placeholders filled (a checked template; unknown names stay)."""

    class Values(dict):
        def __missing__(self, key):
            return "{" + key + "}"

    return string.Formatter().vformat(text, (), Values(values))
