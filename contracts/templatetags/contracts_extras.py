"""Template helpers of the contracts pages (the shared ``person`` filter, under this library too)."""

from django import template

from billing_site.templatetags.billing import person

register = template.Library()
register.filter("person", person)


@register.simple_tag(takes_context=True)
def explain_link(context, kind: str, pk) -> str:
    """A link to the Explain page for a time entry, a session or an invoice line
    (``kind``: "time_entry", "session", "invoice_line"), for a reader of billing only:
    the page answers 403 to anyone else."""
    from django.urls import reverse
    from django.utils.html import format_html

    from billing_site.roles import Cap, role_can

    membership = context.get("current_membership")
    if membership is None or pk is None or not role_can(membership.role, Cap.VIEW_BILLING):
        return ""
    if kind not in ("time_entry", "session", "invoice_line"):
        raise ValueError(f"explain_link: unknown kind {kind!r}")
    return format_html(
        '<a class="explain-link" href="{}?{}={}" title="Which rate rules match and which one wins">'
        "Explain</a>",
        reverse("contracts:rate-rule-explain"),
        kind,
        pk,
    )
