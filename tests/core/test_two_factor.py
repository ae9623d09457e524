"""Two-factor sign-in: a staff member with an authenticator signs in with a password and
a code; recovery codes work once; a tenant can require it of owners and billing admins,
who must set it up before anything else; API tokens are not affected."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from billing_site.roles import Role
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def code_of(device: TOTPDevice, at: dt.datetime | None = None) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    if at is not None:
        totp.time = at.timestamp()
    return f"{totp.token():06d}"


def signed_in(user) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return client


def set_up(client, frozen) -> tuple[TOTPDevice, list[str]]:
    page = client.get(reverse("two-factor"))
    assert page.status_code == 200
    html = page.content.decode()
    # The QR code: an SVG drawn inside its labelled box (every page also has icon SVGs).
    qr = re.search(r'<div class="qr" aria-label="QR code of the secret">\s*(.*?)</div>', html, re.S)
    assert qr and "<svg" in qr.group(1) and "<path" in qr.group(1)
    assert "Set up an authenticator app" in html
    device = TOTPDevice.objects.get(confirmed=False)
    secret = re.search(r'<span class="mono">([A-Z2-7 ]+)</span>', html).group(1)
    assert len(secret.replace(" ", "")) == 32
    wrong = client.post(reverse("two-factor"), {"action": "confirm", "code": "000000"})
    assert "That code is not right" in wrong.content.decode()
    # A wrong code slows the next try down (django-otp's throttle): wait it out.
    frozen.shift(dt.timedelta(seconds=30))
    done = client.post(reverse("two-factor"), {"action": "confirm", "code": code_of(device)})
    codes = re.findall(r"<li>(\d{10})</li>", done.content.decode())
    assert len(codes) == 10
    device.refresh_from_db()
    assert device.confirmed
    return device, codes


def test_with_an_authenticator_every_page_waits_for_the_code(staff_a, frozen):
    user = staff_a.user(Role.TECHNICIAN)
    device, _ = set_up(signed_in(user), frozen)
    client = signed_in(user)
    page = client.get(reverse("dashboard"))
    assert page.status_code == 302
    assert page["Location"] == f"{reverse('two-factor-verify')}?next=%2F"
    wrong = client.post(reverse("two-factor-verify"), {"code": "123456", "next": "/"})
    assert "That code is not right" in wrong.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302
    frozen.shift(dt.timedelta(seconds=60))  # a code not yet used
    right = client.post(reverse("two-factor-verify"), {"code": code_of(device), "next": "/"})
    assert right.status_code == 302 and right["Location"] == "/"
    assert client.get(reverse("dashboard")).status_code == 200
    # Signing out is always open.
    assert client.post(reverse("logout")).status_code == 302


def test_a_recovery_code_signs_in_once(staff_a, frozen):
    user = staff_a.user(Role.BILLING_ADMIN)
    _, codes = set_up(signed_in(user), frozen)
    client = signed_in(user)
    first = client.post(reverse("two-factor-verify"), {"code": codes[0]})
    assert first.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    assert StaticToken.objects.count() == 9
    other = signed_in(user)
    again = other.post(reverse("two-factor-verify"), {"code": codes[0]})
    assert "was used already" in again.content.decode()


def test_a_tenant_can_require_it_of_owners_and_billing_admins(tenant_a, staff_a, frozen):
    tenant_a.require_two_factor = True
    tenant_a.save(update_fields=["require_two_factor"])
    admin = signed_in(staff_a.user(Role.BILLING_ADMIN))
    sent = admin.get(reverse("invoices:invoice-list"))
    assert sent.status_code == 302
    assert sent["Location"].startswith(reverse("two-factor"))
    # The technician is not asked.
    assert signed_in(staff_a.user(Role.TECHNICIAN)).get(reverse("dashboard")).status_code == 200
    set_up(admin, frozen)
    assert admin.get(reverse("invoices:invoice-list")).status_code == 200
    # Required for the role: it cannot be turned off.
    refused = admin.post(reverse("two-factor"), {"action": "remove", "code": "x"}, follow=True)
    assert "requires two-factor sign-in for your role" in refused.content.decode()
    assert TOTPDevice.objects.filter(confirmed=True).exists()


def test_turning_it_off_needs_a_current_code(staff_a, frozen):
    user = staff_a.user(Role.OWNER)
    client = signed_in(user)
    device, _ = set_up(client, frozen)
    refused = client.post(reverse("two-factor"), {"action": "remove", "code": "000000"})
    assert "Enter a current code" in refused.content.decode()
    frozen.shift(dt.timedelta(seconds=60))
    client.post(reverse("two-factor"), {"action": "remove", "code": code_of(device)})
    assert not TOTPDevice.objects.exists()
    assert signed_in(user).get(reverse("dashboard")).status_code == 200


def test_new_recovery_codes_replace_the_old_ones(staff_a, frozen):
    user = staff_a.user(Role.OWNER)
    client = signed_in(user)
    _, old = set_up(client, frozen)
    page = client.post(reverse("two-factor"), {"action": "recovery"})
    new = re.findall(r"<li>(\d{10})</li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert StaticToken.objects.count() == 10


def test_api_tokens_are_not_asked_for_a_code(tenant_a, staff_a, api_as, frozen):
    tenant_a.require_two_factor = True
    tenant_a.save(update_fields=["require_two_factor"])
    user = staff_a.user(Role.BILLING_ADMIN)
    set_up(signed_in(user), frozen)
    assert api_as(user).get("/api/v1/invoices/").status_code == 200


def test_the_second_step_keeps_the_page_asked_for_and_refuses_other_sites(staff_a, frozen):
    user = staff_a.user(Role.TECHNICIAN)
    device, _ = set_up(signed_in(user), frozen)
    client = signed_in(user)
    frozen.shift(dt.timedelta(seconds=60))
    elsewhere = client.post(
        reverse("two-factor-verify"), {"code": code_of(device), "next": "https://evil.example/"}
    )
    assert elsewhere["Location"] == reverse("dashboard")
