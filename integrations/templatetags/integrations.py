"""Template tags of the integrations: what another app's page shows of them."""

from django import template

register = template.Library()


@register.simple_tag
def invoice_deliveries(invoice):
    """The pushes, voids and their results of one invoice (one query, whatever the count)."""
    from integrations.core.selectors import delivery_list

    return list(delivery_list().filter(invoice=invoice))


@register.simple_tag(takes_context=True)
def customer_schedules(context, organization):
    """Per active connection: the customer's schedule row, the effective day, and whether
    the viewer may change it."""
    from billing_site.roles import Cap, role_can
    from integrations.core.selectors import customer_schedule_rows

    request = context.get("request")
    membership = getattr(request, "membership", None)
    rows = customer_schedule_rows(organization=organization)
    return {
        "rows": rows,
        "can_edit": bool(membership and role_can(membership.role, Cap.MANAGE_TENANT)),
    }


@register.simple_tag
def customer_connectwise(organization):
    """The customer's ConnectWise company and how many products have an agreement, when
    ConnectWise is connected (two queries), else None."""
    from integrations.connectwise.services import live_connection
    from integrations.core.models import Mapping, MappingKind, Provider

    if live_connection() is None:
        return None
    rows = Mapping.objects.filter(system=Provider.CONNECTWISE)
    company = rows.filter(kind=MappingKind.CUSTOMER, local_key=str(organization.pk)).first()
    mapped = rows.filter(
        kind=MappingKind.AGREEMENT, local_key__startswith=f"{organization.pk}:"
    ).count()
    return {"company": company, "mapped": mapped}
