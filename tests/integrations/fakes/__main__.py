"""``python -m tests.integrations.fakes``: both fakes on fixed ports for a local trial."""

import time

from .quickbooks import FakeQuickBooks
from .xero import FakeXero

QUICKBOOKS_PORT, XERO_PORT = 8701, 8702


def main() -> None:
    quickbooks = FakeQuickBooks().start(QUICKBOOKS_PORT)
    xero = FakeXero().start(XERO_PORT)
    print("Fake QuickBooks Online at", quickbooks.url, "— fake Xero at", xero.url)
    print("Start the site with these settings (e.g. in .env):")
    for name, value in {**quickbooks.env(), **xero.env()}.items():
        print(f"{name}={value}")
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


if __name__ == "__main__":
    main()
