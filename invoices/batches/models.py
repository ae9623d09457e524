"""Invoice batches (DESIGN.md: Select, Invoice): a named selection of what is due as of a
date, run into draft invoices, then generated (finalised).

The selection is stored as exclusions only: everything due as of ``as_of`` is selected
unless an item (or its whole contract) is excluded, so newly due items are picked up
until the batch runs. A batch's invoices are linked through ``BatchInvoice`` (one batch
per invoice, enforced by a unique constraint) rather than a column on ``Invoice``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from billing_site.tenancy import TenantOwnedModel
from billing_site.timeutils import validate_date_range

__all__ = ["BatchExclusion", "BatchInvoice", "BatchStatus", "InvoiceBatch"]


class BatchStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RUN = "run", "Run (draft invoices)"
    GENERATED = "generated", "Generated"


class InvoiceBatch(TenantOwnedModel):
    """A monthly (or any) billing run. Status moves draft -> run -> generated only, each
    step taken by a conditional UPDATE, so a double click or a second worker cannot run
    or generate a batch twice."""

    name = models.CharField(max_length=120)
    as_of = models.DateField(
        help_text="Items due on this date are selected.", validators=[validate_date_range]
    )
    status = models.CharField(max_length=10, choices=BatchStatus.choices, default=BatchStatus.DRAFT)
    consolidate = models.BooleanField(
        "one invoice per customer",
        default=False,
        help_text="Merge the drafts per billing organization and currency when generating.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    run_at = models.DateTimeField(null=True, blank=True)
    generated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"], name="batch_tenant_status")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_draft(self) -> bool:
        return self.status == BatchStatus.DRAFT


class BatchExclusion(TenantOwnedModel):
    """An item (or, with an empty ``item_key``, a whole contract) left out of a batch.

    ``item_key`` is the stable key of ``contracts.selectors.BillableItem``
    ("time:12", "retainer_fee:2026-03-01", "product:7:2026-03-01", "block:3").
    """

    CONTRACT = "contract"

    batch = models.ForeignKey(InvoiceBatch, on_delete=models.CASCADE, related_name="exclusions")
    contract = models.ForeignKey(
        "contracts.Contract", on_delete=models.CASCADE, related_name="batch_exclusions"
    )
    kind = models.CharField(max_length=14, help_text="Item kind, or 'contract' for all of it.")
    item_key = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["batch", "contract", "item_key"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "batch", "contract", "item_key"], name="batchexclusion_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contract_id}:{self.item_key or 'contract'}"


class BatchInvoice(TenantOwnedModel):
    """An invoice made by a batch run. An invoice belongs to at most one batch; deleting a
    draft removes its link."""

    batch = models.ForeignKey(InvoiceBatch, on_delete=models.CASCADE, related_name="links")
    invoice = models.ForeignKey(
        "invoices.Invoice", on_delete=models.CASCADE, related_name="batch_links"
    )

    class Meta:
        ordering = ["batch", "invoice"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "invoice"], name="batchinvoice_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "batch"], name="batchinvoice_tenant_batch")]

    def __str__(self) -> str:
        return f"{self.batch_id} -> {self.invoice_id}"
