"""Password reset: the link is sent to the account's address, works once and only for
PASSWORD_RESET_TIMEOUT; an unknown address gets the same answer (no account is revealed)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from billing_site.roles import Role

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)
NEW_PASSWORD = "a-brand-new-passphrase-42"


def ask(client, email: str):
    return client.post(reverse("password_reset"), {"email": email})


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/password-reset/[^\s]+/)", message.body).group(1)


def test_a_reset_link_works_once(client, staff_a, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    user = staff_a.user(Role.BILLING_ADMIN)
    user.email = "bruno@example.com"
    user.save()
    with time_machine.travel(NOW, tick=False):
        assert ask(client, "bruno@example.com").status_code == 302
        (message,) = mail.outbox
        assert message.to == ["bruno@example.com"]
        assert "works once, for 1 hour" in message.body
        form = client.get(link_in(message), follow=True)
        assert "Choose a new password" in form.content.decode()
        set_url = form.redirect_chain[-1][0]
        done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
        assert done.status_code == 302
        assert client.login(username=user.username, password=NEW_PASSWORD)
        client.logout()
        again = client.get(link_in(message), follow=True)
        assert "This link no longer works" in again.content.decode()


def test_a_reset_link_expires(client, staff_a, settings):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    user = staff_a.user(Role.TECHNICIAN)
    user.email = "theo@example.com"
    user.save()
    with time_machine.travel(NOW, tick=False) as traveller:
        ask(client, "theo@example.com")
        traveller.move_to(NOW + dt.timedelta(hours=1, minutes=1))
        late = client.get(link_in(mail.outbox[0]), follow=True)
    assert "This link no longer works" in late.content.decode()


def test_an_unknown_address_gets_the_same_answer(client):
    response = ask(client, "nobody@example.com")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_the_sign_in_page_offers_it(client):
    assert reverse("password_reset") in client.get(reverse("login")).content.decode()
