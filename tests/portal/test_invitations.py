"""Portal logins: invitation by a billing admin, the password-set link, resend, revoke."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.contrib.auth import get_user
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing_site.models import Membership, User
from billing_site.roles import Role
from billing_site.testing.factories import ContactFactory, OrganizationFactory, UserFactory
from portal import services

pytestmark = pytest.mark.django_db

USERS = reverse("portal:users")


@pytest.fixture
def contact(tenant_a):
    organization = OrganizationFactory(tenant=tenant_a, name="Helios IT Partners")
    return ContactFactory(
        tenant=tenant_a, organization=organization, name="Sam Carter", email="Sam@Helios.test"
    )


def link_in(message) -> str:
    return re.search(r"https?://\S+/portal/set-password/\S+/", message.body).group(0)


def invite(client, contact, capture, **data):
    with capture(execute=True):
        return client.post(USERS, {"contact": contact.pk, **data})


# ------------------------------------------------------------------------ services


def test_invite_creates_login_and_membership_and_mails_the_link(
    tenant_a, tenant_b, contact, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        membership = services.portal_user_invite(
            tenant=tenant_a, contact=contact, base_url="https://billing.example/"
        )
    assert len(callbacks) == 1
    user = membership.user
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "sam@helios.test",
        "sam@helios.test",
        "Sam",
        "Carter",
    )
    assert not user.has_usable_password()
    assert (membership.role, membership.organization, membership.contact) == (
        Role.PORTAL,
        contact.organization,
        contact,
    )
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["sam@helios.test"]
    assert "Alpha IT" in message.subject
    assert link_in(message).startswith("https://billing.example/portal/set-password/")
    assert "expires in 3 days" in message.body


def test_invite_refusals_write_nothing_and_mail_nothing(
    tenant_a, tenant_b, contact, mailoutbox, django_capture_on_commit_callbacks
):
    nobody = ContactFactory(tenant=tenant_a, organization=contact.organization, email="")
    foreign = ContactFactory(tenant=tenant_b, email="x@bravo.test")
    UserFactory(username="taken")
    cases = [
        ({"contact": nobody}, "email"),
        ({"contact": foreign}, "contact"),
        ({"contact": contact, "username": "TAKEN"}, "username"),
        ({"contact": contact, "email": "not-an-address"}, "email"),
    ]
    for kwargs, field in cases:
        with (
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(ValidationError) as err,
        ):
            services.portal_user_invite(tenant=tenant_a, base_url="http://x/", **kwargs)
        assert field in err.value.message_dict
    assert not Membership.objects.filter(role=Role.PORTAL).exists()
    assert mailoutbox == []
    services.portal_user_invite(tenant=tenant_a, contact=contact, base_url="http://x/")
    with pytest.raises(ValidationError) as err:
        services.portal_user_invite(
            tenant=tenant_a, contact=contact, base_url="http://x/", username="other"
        )
    assert "already has a portal login" in err.value.message_dict["contact"][0]


def test_password_set_runs_the_validators(tenant_a, contact):
    membership = services.portal_user_invite(tenant=tenant_a, contact=contact, base_url="http://x/")
    with pytest.raises(ValidationError) as err:
        services.portal_password_set(user=membership.user, password="12345678")
    assert "new_password2" in err.value.message_dict
    staff = UserFactory(username="staffer")
    Membership.objects.create(user=staff, tenant=tenant_a, role=Role.BILLING_ADMIN)
    with pytest.raises(ValidationError):
        services.portal_password_set(user=staff, password="a-long-good-passphrase")


def test_revoke_disables_a_login_left_without_membership(tenant_a, contact):
    membership = services.portal_user_invite(tenant=tenant_a, contact=contact, base_url="http://x/")
    user = services.portal_user_revoke(tenant=tenant_a, membership_id=membership.pk)
    user.refresh_from_db()
    assert not user.is_active and not user.has_usable_password()
    assert not Membership.objects.filter(user=user).exists()


# ------------------------------------------------------------------------ the flow


def test_admin_invites_contact_sets_password_and_lands_in_the_portal(
    client, client_as, admin_a, contact, mailoutbox, django_capture_on_commit_callbacks
):
    staff = client_as(admin_a)
    page = staff.get(USERS).content.decode()
    assert "Sam Carter" in page and "Invite a contact" in page
    response = invite(staff, contact, django_capture_on_commit_callbacks)
    assert response.status_code == 302
    listing = staff.get(USERS).content.decode()
    assert "sam@helios.test" in listing and "Invited" in listing
    link = link_in(mailoutbox[0])
    staff.logout()

    # The token moves from the URL to the session (it never sits in a Referer).
    response = client.get(link)
    assert response.status_code == 302 and response["Location"].endswith("/set-password/")
    form = client.get(response["Location"])
    assert "Choose a password" in form.content.decode() and "Alpha IT" in form.content.decode()
    weak = client.post(
        response["Location"], {"new_password1": "password", "new_password2": "password"}
    )
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    done = client.post(
        response["Location"],
        {"new_password1": "sunny-harbour-lantern-42", "new_password2": "sunny-harbour-lantern-42"},
    )
    assert done.status_code == 302 and done["Location"] == reverse("portal:home")
    assert get_user(client).username == "sam@helios.test"
    assert client.get(reverse("portal:home")).status_code == 200
    # The link is spent.
    client.logout()
    assert "no longer valid" in client.get(link, follow=True).content.decode()
    # And the password works on the shared login page.
    login = client.post(
        reverse("login"),
        {"username": "sam@helios.test", "password": "sunny-harbour-lantern-42", "next": "/portal/"},
    )
    assert login.status_code == 302 and login["Location"] == "/portal/"
    assert User.objects.get(username="sam@helios.test").has_usable_password()


def test_link_expires(client, tenant_a, contact, settings):
    membership = services.portal_user_invite(tenant=tenant_a, contact=contact, base_url="http://x/")
    path = services.password_set_path(membership.user)
    with time_machine.travel(
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 60)
    ):
        assert "no longer valid" in client.get(path).content.decode()


def test_link_never_sets_a_staff_password(client, admin_a):
    token = default_token_generator.make_token(admin_a)
    uid = urlsafe_base64_encode(force_bytes(admin_a.pk))
    response = client.get(reverse("portal:set-password", args=[uid, token]))
    assert response.status_code == 200 and "no longer valid" in response.content.decode()


def test_invite_errors_show_next_to_fields(
    client_as, admin_a, contact, django_capture_on_commit_callbacks
):
    UserFactory(username="taken")
    response = invite(
        client_as(admin_a), contact, django_capture_on_commit_callbacks, username="taken"
    )
    assert response.status_code == 200
    assert "is taken" in response.content.decode()
    assert not Membership.objects.filter(role=Role.PORTAL).exists()


def test_contacts_of_another_tenant_cannot_be_chosen(client_as, admin_a, tenant_b):
    foreign = ContactFactory(tenant=tenant_b, email="b@bravo.test")
    response = client_as(admin_a).post(USERS, {"contact": foreign.pk})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert foreign.name not in client_as(admin_a).get(USERS).content.decode()


def test_resend_and_revoke_from_the_list(
    client_as, admin_a, contact, mailoutbox, django_capture_on_commit_callbacks
):
    staff = client_as(admin_a)
    invite(staff, contact, django_capture_on_commit_callbacks)
    membership = Membership.objects.get(role=Role.PORTAL)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(reverse("portal:user-resend"), {"membership": membership.pk})
    assert response.status_code == 302 and len(mailoutbox) == 2
    assert link_in(mailoutbox[1])
    response = staff.post(reverse("portal:user-revoke"), {"membership": membership.pk})
    assert response.status_code == 302
    assert not User.objects.get(pk=membership.user_id).is_active
    assert staff.post(reverse("portal:user-resend"), {"membership": 999999}).status_code == 404


def test_list_search_and_paging(client_as, admin_a, tenant_a):
    for index in range(27):
        organization = OrganizationFactory(tenant=tenant_a, name=f"Partner {index:02d}")
        contact = ContactFactory(
            tenant=tenant_a, organization=organization, email=f"p{index}@x.test"
        )
        services.portal_user_invite(tenant=tenant_a, contact=contact, base_url="http://x/")
    staff = client_as(admin_a)
    assert "1–25 of 27" in staff.get(USERS).content.decode()
    found = staff.get(USERS, {"q": "partner 26"}).content.decode()
    assert "p26@x.test" in found and "p25@x.test" not in found


def test_nav_links_to_portal_users_for_billing_admins_only(client_as, staff_a):
    assert USERS in client_as(staff_a.user(Role.BILLING_ADMIN)).get("/").content.decode()
    assert USERS not in client_as(staff_a.user(Role.TECHNICIAN)).get("/").content.decode()
