"""Invoices keep structured party snapshots, and lines their service period.

Seller and bill-to lose their ``*_address`` text for ``<party>_street``, ``_city``,
``_postcode``, ``_region`` and ``_country``; the bill-to gains a phone. The text is split
by ``billing_site.addresses.parse_address``, the same function the tenants' and
organizations' addresses went through (billing_site 0003). When the text named no
country, the snapshot takes the party's country (the tenant's, the billed
organization's): old invoices printed none, and a country is needed by accounting
exports and e-invoices. Reversible: going back writes the fields into the text again.

Lines gain ``period_start`` / ``period_end``; existing lines keep them empty (their
explanation still says what they billed).
"""

from django.db import migrations, models
from django.db.models import F, Q

import billing_site.models
from billing_site.addresses import Address, address_columns, format_address

PARTIES = ("seller", "bill_to")
FIELDS = [f"{party}_{name}" for party in PARTIES for name in Address.__dataclass_fields__]


def split_party_addresses(apps, schema_editor):
    Invoice = apps.get_model("invoices", "Invoice")
    # Every tenant's invoices (the historical managers are plain managers).
    rows = Invoice.all_tenants.select_related("tenant", "organization").order_by("pk")
    changed = []
    for invoice in rows.iterator(chunk_size=1000):
        seller = address_columns(invoice.seller_address, prefix="seller_")
        seller["seller_country"] = seller["seller_country"] or invoice.tenant.country
        bill_to = address_columns(invoice.bill_to_address, prefix="bill_to_")
        if not bill_to["bill_to_country"] and invoice.organization is not None:
            bill_to["bill_to_country"] = invoice.organization.country
        for field, value in {**seller, **bill_to}.items():
            setattr(invoice, field, value)
        changed.append(invoice)
        if len(changed) >= 1000:
            Invoice._base_manager.bulk_update(changed, FIELDS)
            changed = []
    Invoice._base_manager.bulk_update(changed, FIELDS)


def join_party_addresses(apps, schema_editor):
    Invoice = apps.get_model("invoices", "Invoice")
    changed = []
    for invoice in Invoice.all_tenants.order_by("pk").iterator(chunk_size=1000):
        for party in PARTIES:
            address = Address(
                **{
                    name: getattr(invoice, f"{party}_{name}")
                    for name in Address.__dataclass_fields__
                }
            )
            setattr(invoice, f"{party}_address", format_address(address))
        changed.append(invoice)
    Invoice._base_manager.bulk_update(
        changed, ["seller_address", "bill_to_address"], batch_size=1000
    )


def _party_fields(party):
    return [
        migrations.AddField(
            model_name="invoice",
            name=f"{party}_street",
            field=models.TextField(blank=True, help_text="Street lines, one per line."),
        ),
        migrations.AddField(
            model_name="invoice",
            name=f"{party}_city",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="invoice",
            name=f"{party}_postcode",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name="invoice",
            name=f"{party}_region",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name="invoice",
            name=f"{party}_country",
            field=models.CharField(
                blank=True, max_length=2, validators=[billing_site.models.validate_country]
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("billing_site", "0003_structured_addresses"),
        ("invoices", "0004_credit_disposition"),
    ]

    operations = [
        *_party_fields("seller"),
        *_party_fields("bill_to"),
        migrations.AddField(
            model_name="invoice",
            name="bill_to_phone",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.RunPython(split_party_addresses, join_party_addresses, elidable=False),
        migrations.RemoveField(model_name="invoice", name="seller_address"),
        migrations.RemoveField(model_name="invoice", name="bill_to_address"),
        migrations.AddField(
            model_name="invoiceline",
            name="period_start",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="period_end",
            field=models.DateField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="invoiceline",
            constraint=models.CheckConstraint(
                condition=Q(period_start__isnull=True)
                | Q(period_end__isnull=True)
                | Q(period_end__gte=F("period_start")),
                name="line_period_end_after_start",
            ),
        ),
    ]
