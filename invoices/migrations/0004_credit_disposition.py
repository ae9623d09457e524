"""Credit notes say what became of the items of the lines they credit in full:
released to be billed again, or written off (they stay billed by the credited line).

Credit notes issued before this migration released those items, so they are marked
"release"; the constraint then holds for every row: a credit note has a disposition,
an invoice has none.
"""

from django.db import migrations, models


def mark_existing_notes_released(apps, schema_editor):
    Invoice = apps.get_model("invoices", "Invoice")
    # Every tenant's credit notes (the historical managers are plain managers).
    Invoice.all_tenants.filter(kind="credit_note", credit_disposition="").update(
        credit_disposition="release"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0003_batches"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="credit_disposition",
            field=models.CharField(
                blank=True,
                choices=[
                    ("release", "Release the items to be billed again"),
                    ("write_off", "Write the items off (they stay billed)"),
                ],
                help_text=(
                    "Credit notes: whether the items of the lines credited in full were "
                    "released to be billed again or written off (they stay billed by the "
                    "credited line)."
                ),
                max_length=10,
            ),
        ),
        migrations.RunPython(mark_existing_notes_released, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=models.Q(("credit_disposition", ""), ("kind", "invoice"))
                | models.Q(
                    ("credit_disposition__in", ["release", "write_off"]), ("kind", "credit_note")
                ),
                name="invoice_credit_disposition_iff_note",
            ),
        ),
    ]
