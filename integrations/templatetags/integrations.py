"""Template tags of the integrations: what another app's page shows of them."""

from django import template

register = template.Library()


@register.simple_tag
def invoice_deliveries(invoice):
    """The pushes, voids and their results of one invoice (one query, whatever the count)."""
    from integrations.core.selectors import delivery_list

    return list(delivery_list().filter(invoice=invoice))
