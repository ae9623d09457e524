"""Factories of the audit app (registered for the route walk)."""

import factory

from audit.models import Action, AuditEntry, ObjectType
from billing_site.testing.factories import TenantOwnedFactory
from billing_site.testing.registry import register_factory


@register_factory
class AuditEntryFactory(TenantOwnedFactory):
    class Meta:
        model = AuditEntry

    actor_name = "system"
    action = Action.UPDATE
    object_type = ObjectType.CONTRACT
    object_id = factory.Sequence(lambda n: n + 1)
    object_label = factory.Sequence(lambda n: f"Contract {n}")
    before = {"rate": "90.0000"}
    after = {"rate": "95.0000"}
