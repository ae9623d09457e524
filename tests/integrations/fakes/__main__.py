"""``python -m tests.integrations.fakes``: the fakes on fixed ports for a local trial."""

import time

from .connectwise import FakeConnectWise
from .quickbooks import FakeQuickBooks
from .xero import FakeXero

QUICKBOOKS_PORT, XERO_PORT, CONNECTWISE_PORT = 8701, 8702, 8703


def main() -> None:
    quickbooks = FakeQuickBooks().start(QUICKBOOKS_PORT)
    xero = FakeXero().start(XERO_PORT)
    connectwise = FakeConnectWise().start(CONNECTWISE_PORT)
    acme = connectwise.add_company("ACME", "ACME Corporation")
    connectwise.add_agreement(acme, "ACME Managed Services", "Managed Services")
    connectwise.add_agreement(acme, "ACME Security", "Security")
    print("Fake QuickBooks Online at", quickbooks.url, "— fake Xero at", xero.url)
    print("Start the site with these settings (e.g. in .env):")
    for name, value in {**quickbooks.env(), **xero.env(), **connectwise.env()}.items():
        print(f"{name}={value}")
    print(
        "ConnectWise: site",
        connectwise.site,
        "company",
        connectwise.company,
        "public key",
        connectwise.public_key,
        "private key",
        connectwise.private_key,
        "(any catalog identifier is accepted while its catalog is empty)",
    )
    print(
        "Invoices pushed there are listed (with a 'Mark paid' button) at",
        quickbooks.url,
        "and",
        xero.url,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        quickbooks.stop()
        xero.stop()
        connectwise.stop()


if __name__ == "__main__":
    main()
