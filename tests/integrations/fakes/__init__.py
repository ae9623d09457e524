"""Local fake QuickBooks Online, Xero and ConnectWise PSA servers: real HTTP on loopback, checking the
request shapes the providers document (``../shared`` integrations notes) and answering
like them. Used by the tests, and by ``make fakes`` for a trial in the browser."""

from .connectwise import FakeConnectWise
from .quickbooks import FakeQuickBooks
from .server import FakeServer
from .xero import FakeXero

__all__ = ["FakeConnectWise", "FakeQuickBooks", "FakeServer", "FakeXero"]
