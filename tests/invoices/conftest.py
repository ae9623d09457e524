"""Fixtures of the invoices tests: the seed's ACME group, sessions, a private media root."""

from __future__ import annotations

import datetime as dt
import email
import io
import socket
import zoneinfo
from dataclasses import dataclass, field
from email import policy

import pytest
import time_machine
from aiosmtpd.controller import Controller
from pypdf import PdfReader

from billing_site.testing.factories import OrganizationFactory, UserFactory
from sessions.models import Host, HostGroup, RemoteSession

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = dt.datetime(2026, 3, 20, 11, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen_now():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def make_group(tenant, name, organization=None) -> HostGroup:
    group = HostGroup(tenant=tenant, name=name, organization=organization)
    group.save()
    return group


def make_host(tenant, name, group=None, organization=None) -> Host:
    host = Host(tenant=tenant, name=name, group=group, organization=organization)
    host.save()
    return host


def make_session(
    host: Host,
    start: dt.datetime,
    seconds: int | None,
    comment: str = "",
    *,
    billable: bool = True,
    technician=None,
) -> RemoteSession:
    """A session starting at ``start`` (naive = Paris time); ``seconds=None`` is running."""
    if start.tzinfo is None:
        start = start.replace(tzinfo=PARIS)
    session = RemoteSession(
        tenant_id=host.tenant_id,
        host=host,
        started_at=start,
        ended_at=None if seconds is None else start + dt.timedelta(seconds=seconds),
        duration_seconds=seconds or 0,
        comment=comment,
        billable=billable,
        technician=technician,
    )
    session.save()
    return session


@dataclass
class Acme:
    """The seed: group ACME with hosts Jane_OFFICE_121 and Joseph_OFFICE_121.

    Jane's billable March sessions last 15 min 18 s overall (600 s + 318 s);
    Joseph's last 45 min 12 s. At the tenant's 100.00 EUR/h: Jane 16.67 + 8.83 = 25.50,
    Joseph 75.33; the group 100.83 for 1 h 00 min 30 s (3630 s). Not billable here: a
    running session, a non-billable one, and (outside March) an April session.
    """

    tenant: object
    organization: object
    group: HostGroup
    jane: Host
    joseph: Host
    jane_updates: RemoteSession
    jane_backup: RemoteSession
    joseph_printer: RemoteSession
    others: dict = field(default_factory=dict)

    @property
    def march(self) -> dict:
        return {"date_from": dt.date(2026, 3, 1), "date_to": dt.date(2026, 3, 31)}


def build_acme(tenant) -> Acme:
    organization = OrganizationFactory(
        tenant=tenant,
        name="ACME",
        company_number="C-1001",
        street="5 avenue Foch",
        postcode="69006",
        city="Lyon",
        country="FR",
        billing_contact_email="billing@acme.example",
        tax_id="FR11222333444",
        currency=tenant.currency,
    )
    group = make_group(tenant, "ACME", organization)
    jane = make_host(tenant, "Jane_OFFICE_121", group)
    joseph = make_host(tenant, "Joseph_OFFICE_121", group)
    acme = Acme(
        tenant=tenant,
        organization=organization,
        group=group,
        jane=jane,
        joseph=joseph,
        jane_updates=make_session(
            jane, dt.datetime(2026, 3, 2, 9, 0), 600, "Installed Windows updates."
        ),
        jane_backup=make_session(
            jane, dt.datetime(2026, 3, 5, 14, 0), 318, "Checked the backup job."
        ),
        joseph_printer=make_session(
            joseph, dt.datetime(2026, 3, 3, 10, 0), 2712, "Replaced the printer driver."
        ),
    )
    acme.others = {
        "running": make_session(
            jane,
            dt.datetime(2026, 3, 20, 11, 30),
            None,
            "Still on it",
            technician=UserFactory(username=f"{tenant.slug}-timer-tech"),
        ),
        "internal": make_session(
            jane, dt.datetime(2026, 3, 4, 8, 0), 300, "Internal test", billable=False
        ),
        "april": make_session(joseph, dt.datetime(2026, 4, 2, 9, 0), 1200, "April visit"),
    }
    return acme


@pytest.fixture
def acme(tenant_a):
    return build_acme(tenant_a)


@pytest.fixture
def acme_b(tenant_b):
    """Tenant B's own ACME (same names): must never be seen by tenant A."""
    return build_acme(tenant_b)


def pdf_text(invoice) -> str:
    """The text of an invoice's stored PDF, spaces normalised."""
    invoice.pdf.open("rb")
    try:
        reader = PdfReader(io.BytesIO(invoice.pdf.read()))
    finally:
        invoice.pdf.close()
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace("\u202f", " ").replace("\xa0", " ")


def pdf_bytes_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace("\u202f", " ").replace("\xa0", " ")


class Mailbox:
    """What a real SMTP server on loopback (aiosmtpd) received: (recipients, message)
    pairs; ``refuse`` makes it answer RCPT with that reply."""

    def __init__(self):
        self.messages = []
        self.refuse = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    with socket.socket() as probe:  # a free port (the controller checks it by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.DEFAULT_FROM_EMAIL = "billing@northwind.example"
    yield box
    controller.stop()
