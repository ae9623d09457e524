"""Structured addresses: the parser of old free-text addresses and the data migrations
that use it (billing_site 0003, invoices 0005)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing_site.addresses import Address, format_address, parse_address


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (  # France: "<postcode> <city>", a country line
            "12 rue des Lilas\n75011 Paris\nFrance",
            Address(street="12 rue des Lilas", city="Paris", postcode="75011", country="FR"),
        ),
        (  # United Kingdom: "<city> <postcode>" with a two-token postcode
            "10 Downing Street\nLondon SW1A 1AA\nUnited Kingdom",
            Address(street="10 Downing Street", city="London", postcode="SW1A 1AA", country="GB"),
        ),
        (  # United States: "City, ST 12345" gives the region too
            "1 Main St\nSuite 200\nSpringfield, IL 62704",
            Address(
                street="1 Main St\nSuite 200", city="Springfield", postcode="62704", region="IL"
            ),
        ),
        (  # Denmark with a country prefix, a city of two words, a code as country line
            "Vesterbrogade 1\nDK-2100 København Ø\nDK",
            Address(street="Vesterbrogade 1", city="København Ø", postcode="DK-2100", country="DK"),
        ),
        (  # Germany, blank lines and stray spaces
            "  Musterstraße 5 \n\n 10115 Berlin \n",
            Address(street="Musterstraße 5", city="Berlin", postcode="10115"),
        ),
        (  # a region line after the locality
            "12 rue des Lilas\nBâtiment B\n75011 Paris\nÎle-de-France\nFrance",
            Address(
                street="12 rue des Lilas\nBâtiment B",
                city="Paris",
                postcode="75011",
                region="Île-de-France",
                country="FR",
            ),
        ),
        ("", Address()),
        ("   \n  ", Address()),
        # One line: a street, nothing guessed (even with a number in it).
        ("1 rue de la Paix", Address(street="1 rue de la Paix")),
        ("75002 Paris", Address(street="75002 Paris")),
        # No postcode on the last line: everything stays a street line.
        ("Acme Ltd\n1 Example Street", Address(street="Acme Ltd\n1 Example Street")),
        (
            "Acme\n1 Example Street\nDenmark",
            Address(street="Acme\n1 Example Street", country="DK"),
        ),
    ],
)
def test_parse_address(text, expected):
    assert parse_address(text) == expected


def test_format_address_gives_the_fields_back_as_text():
    address = parse_address("12 rue des Lilas\nBâtiment B\n75011 Paris\nÎle-de-France")
    assert format_address(address) == "12 rue des Lilas\nBâtiment B\n75011 Paris\nÎle-de-France"
    assert format_address(Address()) == ""


BEFORE = [("billing_site", "0002_tax_rates"), ("invoices", "0004_credit_disposition")]
AFTER = [("billing_site", "0003_structured_addresses"), ("invoices", "0005_party_snapshots")]


@pytest.mark.django_db(transaction=True)
def test_data_migration_splits_every_tenants_addresses_and_reverses():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Tenant = old.get_model("billing_site", "Tenant")
    Organization = old.get_model("billing_site", "Organization")
    Invoice = old.get_model("invoices", "Invoice")
    a = Tenant.objects.create(
        name="A", slug="a", currency="EUR", country="FR", address="1 rue X\n75002 Paris"
    )
    b = Tenant.objects.create(
        name="B", slug="b", currency="GBP", address="2 High St\nLondon SW1A 1AA\nUnited Kingdom"
    )
    org_a = Organization.objects.create(
        tenant=a,
        name="ACME",
        company_number="C-1",
        currency="EUR",
        country="FR",
        address="5 avenue Foch\n69006 Lyon",
    )
    org_b = Organization.objects.create(
        tenant=b, name="Bravo", company_number="C-1", currency="GBP", address="Unit 4"
    )
    invoice_a = Invoice.objects.create(
        tenant=a,
        organization=org_a,
        currency="EUR",
        seller_name="A",
        seller_address="1 rue X\n75002 Paris",
        bill_to_name="ACME",
        bill_to_address="5 avenue Foch\nBâtiment C\n69006 Lyon",
    )
    invoice_b = Invoice.objects.create(
        tenant=b,
        organization=org_b,
        currency="GBP",
        seller_name="B",
        seller_address="",
        bill_to_name="Bravo",
        bill_to_address="Unit 4\nManchester M1 1AE\nUnited Kingdom",
    )

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Tenant = new.get_model("billing_site", "Tenant")
    Organization = new.get_model("billing_site", "Organization")
    Invoice = new.get_model("invoices", "Invoice")

    def fields(row, prefix=""):
        names = ("street", "postcode", "city", "region", "country")
        return tuple(getattr(row, prefix + name) for name in names)

    assert fields(Tenant.objects.get(pk=a.pk)) == ("1 rue X", "75002", "Paris", "", "FR")
    # B had no country: the text's country line fills it.
    assert fields(Tenant.objects.get(pk=b.pk)) == ("2 High St", "SW1A 1AA", "London", "", "GB")
    assert fields(Organization.all_tenants.get(pk=org_a.pk)) == (
        "5 avenue Foch",
        "69006",
        "Lyon",
        "",
        "FR",
    )
    assert fields(Organization.all_tenants.get(pk=org_b.pk)) == ("Unit 4", "", "", "", "")
    snapshot_a = Invoice.all_tenants.get(pk=invoice_a.pk)
    assert fields(snapshot_a, "seller_") == ("1 rue X", "75002", "Paris", "", "FR")
    assert fields(snapshot_a, "bill_to_") == (
        "5 avenue Foch\nBâtiment C",
        "69006",
        "Lyon",
        "",
        "FR",  # the organization's country
    )
    snapshot_b = Invoice.all_tenants.get(pk=invoice_b.pk)
    # No text: only the country, the tenant's (filled from its own address just before).
    assert fields(snapshot_b, "seller_") == ("", "", "", "", "GB")
    assert fields(snapshot_b, "bill_to_") == ("Unit 4", "M1 1AE", "Manchester", "", "GB")

    # Reversible: going back writes the fields into the text again.
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    assert (
        old.get_model("billing_site", "Organization").all_tenants.get(pk=org_a.pk).address
        == "5 avenue Foch\n69006 Lyon"
    )
    assert (
        old.get_model("invoices", "Invoice").all_tenants.get(pk=invoice_b.pk).bill_to_address
        == "Unit 4\nM1 1AE Manchester\nGB"
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
