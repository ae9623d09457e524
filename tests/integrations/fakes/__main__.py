"""``python -m tests.integrations.fakes``: both fakes on fixed ports for a local trial."""

import time

from .quickbooks import FakeQuickBooks
from .xero import FakeXero

QUICKBOOKS_PORT, XERO_PORT = 8701, 8702


def main() -> None:
    quickbooks = FakeQuickBooks().start(QUICKBOOKS_PORT)
    xero = FakeXero().start(XERO_PORT)
    q, x = quickbooks.url, xero.url
    print("Fake QuickBooks Online at", q, "— fake Xero at", x)
    print("Start the site with these settings (e.g. in .env):")
    print(
        f"QUICKBOOKS_CLIENT_ID={quickbooks.client_id}\nQUICKBOOKS_CLIENT_SECRET={quickbooks.client_secret}"
    )
    print(f"QUICKBOOKS_AUTHORIZE_URL={q}/oauth/authorize\nQUICKBOOKS_TOKEN_URL={q}/oauth/token")
    print(f"QUICKBOOKS_API_URL={q}")
    print(f"XERO_CLIENT_ID={xero.client_id}\nXERO_CLIENT_SECRET={xero.client_secret}")
    print(f"XERO_AUTHORIZE_URL={x}/oauth/authorize\nXERO_TOKEN_URL={x}/oauth/token")
    print(f"XERO_CONNECTIONS_URL={x}/connections\nXERO_API_URL={x}/api.xro/2.0")
    print("Invoices pushed there are listed (with a 'Mark paid' button) at", q, "and", x)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        quickbooks.stop()
        xero.stop()


if __name__ == "__main__":
    main()
