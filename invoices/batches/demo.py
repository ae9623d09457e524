"""Demo data: one saved invoice batch, "Monthly billing" as of the 1st of this month, not
run yet, so the billing page opens on last month's due work. Idempotent."""

from __future__ import annotations

from django.utils import timezone

from .models import InvoiceBatch


def build(ctx) -> list[str]:
    tenant = ctx.tenant
    as_of = timezone.localdate(timezone=tenant.zone).replace(day=1)
    batch, created = InvoiceBatch.objects.get_or_create(
        name="Monthly billing",
        as_of=as_of,
        defaults={"tenant": tenant, "created_by": ctx.users.get("billing")},
    )
    if not created:
        return []
    return [f"Invoice batch “{batch.name}” as of {as_of:%d %b %Y} (not run yet)"]
