"""Roles and what each may do. The one place that maps a role to capabilities.

Views and API endpoints declare the capability they need for reading and for
writing; ``role_can`` answers server-side for the request's membership.
"""

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    BILLING_ADMIN = "billing_admin", "Billing admin"
    TECHNICIAN = "technician", "Technician"
    ACCOUNTANT = "accountant", "Accountant"
    PORTAL = "portal", "Portal user"


STAFF_ROLES = frozenset({Role.OWNER, Role.BILLING_ADMIN, Role.TECHNICIAN, Role.ACCOUNTANT})


class Cap:
    """Capabilities. Named by what they allow, checked by ``role_can``."""

    VIEW_CUSTOMERS = "view_customers"
    MANAGE_CUSTOMERS = "manage_customers"
    LOG_WORK = "log_work"  # sessions, time entries of one's own
    VIEW_WORK = "view_work"
    MANAGE_WORK = "manage_work"  # approve/post, edit anyone's work
    VIEW_BILLING = "view_billing"  # invoices, amounts, payments
    MANAGE_BILLING = "manage_billing"  # contracts, rates, batches, invoices
    MANAGE_TENANT = "manage_tenant"  # settings, users, integrations
    PORTAL = "portal"


ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(
        {
            Cap.VIEW_CUSTOMERS,
            Cap.MANAGE_CUSTOMERS,
            Cap.LOG_WORK,
            Cap.VIEW_WORK,
            Cap.MANAGE_WORK,
            Cap.VIEW_BILLING,
            Cap.MANAGE_BILLING,
            Cap.MANAGE_TENANT,
        }
    ),
    Role.BILLING_ADMIN: frozenset(
        {
            Cap.VIEW_CUSTOMERS,
            Cap.MANAGE_CUSTOMERS,
            Cap.LOG_WORK,
            Cap.VIEW_WORK,
            Cap.MANAGE_WORK,
            Cap.VIEW_BILLING,
            Cap.MANAGE_BILLING,
        }
    ),
    Role.TECHNICIAN: frozenset({Cap.VIEW_CUSTOMERS, Cap.LOG_WORK, Cap.VIEW_WORK}),
    Role.ACCOUNTANT: frozenset({Cap.VIEW_CUSTOMERS, Cap.VIEW_WORK, Cap.VIEW_BILLING}),
    Role.PORTAL: frozenset({Cap.PORTAL}),
}


def role_can(role: str | None, capability: str | None) -> bool:
    if role is None:
        return False
    if capability is None:
        return role in STAFF_ROLES
    return capability in ROLE_CAPABILITIES.get(role, frozenset())
