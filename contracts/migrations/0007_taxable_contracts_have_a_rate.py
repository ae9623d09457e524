"""A taxable contract has a rate above 0 (contracts.services): contracts saved as taxable at
0 % were billed without tax all along (invoices.batches.selectors._tax), so they are marked
as not taxable. No amount changes."""

from django.db import migrations


def untaxed_at_zero(apps, schema_editor):
    Contract = apps.get_model("contracts", "Contract")
    Contract.objects.filter(taxable=True, tax_rate=0).update(taxable=False)


class Migration(migrations.Migration):
    dependencies = [("contracts", "0006_budgets")]

    operations = [migrations.RunPython(untaxed_at_zero, migrations.RunPython.noop)]
