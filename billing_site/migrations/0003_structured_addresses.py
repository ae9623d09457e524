"""Tenants and organizations get a structured address (street lines, city, postcode,
region; ``country`` they already had) instead of one ``address`` text.

The text is split by ``billing_site.addresses.parse_address`` (its docstring has the
heuristic): the last line gives postcode and city when it looks like
"<postcode> <city>" or "<city> <postcode>", a last line naming a country fills an empty
``country``; every other line becomes a street line. Reversible: going back writes the
fields into ``address`` again (``format_address``).
"""

from django.db import migrations, models

from billing_site.addresses import Address, address_columns, format_address

MODELS = ("Tenant", "Organization")
FIELDS = ("street", "city", "postcode", "region", "country")


def _rows(apps, name):
    model = apps.get_model("billing_site", name)
    # Every tenant's rows: the historical managers are plain managers.
    manager = model.all_tenants if name == "Organization" else model.objects
    return model, manager.all()


def split_addresses(apps, schema_editor):
    for name in MODELS:
        model, rows = _rows(apps, name)
        changed = []
        for row in rows.exclude(address=""):
            for field, value in address_columns(row.address, country=row.country).items():
                setattr(row, field, value)
            changed.append(row)
        model._base_manager.bulk_update(changed, FIELDS, batch_size=500)


def join_addresses(apps, schema_editor):
    for name in MODELS:
        model, rows = _rows(apps, name)
        changed = []
        for row in rows:
            address = Address(
                street=row.street, city=row.city, postcode=row.postcode, region=row.region
            )
            row.address = format_address(address)
            changed.append(row)
        model._base_manager.bulk_update(changed, ["address"], batch_size=500)


def _address_fields(model_name):
    return [
        migrations.AddField(
            model_name=model_name,
            name="street",
            field=models.TextField(blank=True, help_text="Street lines, one per line."),
        ),
        migrations.AddField(
            model_name=model_name,
            name="city",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name=model_name,
            name="postcode",
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name=model_name,
            name="region",
            field=models.CharField(
                blank=True, help_text="State, province or county, if any.", max_length=100
            ),
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("billing_site", "0002_tax_rates"),
    ]

    operations = [
        *_address_fields("tenant"),
        *_address_fields("organization"),
        migrations.RunPython(split_addresses, join_addresses, elidable=False),
        migrations.RemoveField(model_name="tenant", name="address"),
        migrations.RemoveField(model_name="organization", name="address"),
    ]
