"""Portal logins: invitation, password set, revocation.

A portal user is a login with one ``Membership(role=portal)`` naming its organization
and contact. Invitations create the login with an unusable password and e-mail a
one-time link (Django's token generator: it expires after ``PASSWORD_RESET_TIMEOUT``
and dies as soon as the password is set or the user logs in). The e-mail is sent after
the transaction commits, so a rolled-back invitation never mails a link to nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from audit import services as audit
from billing_site.models import Contact, Membership, Tenant, User
from billing_site.roles import Role
from billing_site.services import membership_create
from billing_site.tenancy import tenant_context


def password_set_path(user: User) -> str:
    """The path of the user's one-time password-set page."""
    return reverse(
        "portal:set-password",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )


def _send_invitation(membership: Membership, base_url: str) -> None:
    user = membership.user
    context = {
        "tenant": membership.tenant,
        "organization": membership.organization,
        "user": user,
        "link": base_url.rstrip("/") + password_set_path(user),
        "login_link": base_url.rstrip("/") + reverse("login") + "?next=" + reverse("portal:home"),
        "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400),
    }
    send_mail(
        subject=f"Your client portal access at {membership.tenant.name}",
        message=render_to_string("portal/email/invitation.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )


def _portal_membership(tenant: Tenant, membership_id: int) -> Membership:
    try:
        return Membership.objects.select_related("user", "organization", "tenant").get(
            pk=membership_id, tenant=tenant, role=Role.PORTAL
        )
    except (Membership.DoesNotExist, ValueError, TypeError) as exc:
        raise ValidationError({"membership": "Portal user not found."}) from exc


@transaction.atomic
def portal_user_invite(
    *, tenant: Tenant, contact: Contact, base_url: str, email: str = "", username: str = ""
) -> Membership:
    """Give a customer's contact a portal login and e-mail them a password-set link.

    Creates the login (unusable password) and its portal membership (the contact's
    organization) in one transaction; the e-mail leaves after commit. A contact has at
    most one portal login per MSP; usernames are unique across the installation.
    """
    if contact.tenant_id != tenant.pk:
        raise ValidationError({"contact": "Contact not found."})
    email = (email or contact.email or "").strip().lower()
    username = (username or email).strip()
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = f"{contact.name} has no e-mail address: give one for the invitation."
    else:
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Enter a valid e-mail address."
    if Membership.objects.filter(tenant=tenant, contact=contact, role=Role.PORTAL).exists():
        errors["contact"] = (
            f"{contact.name} already has a portal login; resend the invitation from the list."
        )
    if username and User.objects.filter(username__iexact=username).exists():
        errors["username"] = f"The username “{username}” is taken; choose another."
    if errors:
        raise ValidationError(errors)
    first_name, _, last_name = contact.name.partition(" ")
    membership = membership_create(
        tenant=tenant,
        username=username,
        email=email,
        password=None,
        role=Role.PORTAL,
        first_name=first_name[:150],
        last_name=last_name[:150],
        organization=contact.organization,
        contact=contact,
    )
    with tenant_context(tenant):
        audit.record(
            action=audit.Action.INVITE,
            target=membership.user,
            after={"email": email, "role": Role.PORTAL, "organization": contact.organization},
            parent=contact.organization,
            tenant=tenant,
        )
    transaction.on_commit(lambda: _send_invitation(membership, base_url), robust=True)
    return membership


@transaction.atomic
def portal_invitation_resend(*, tenant: Tenant, membership_id: int, base_url: str) -> Membership:
    """E-mail a new password-set link to a portal user of ``tenant``.

    Works for users who have not set a password yet and for those who forgot it; an
    earlier link stays valid until it expires or the password changes.
    """
    membership = _portal_membership(tenant, membership_id)
    if not membership.user.is_active:
        raise ValidationError({"membership": "This portal login is disabled."})
    if not membership.user.email:
        raise ValidationError({"membership": "This portal user has no e-mail address."})
    transaction.on_commit(lambda: _send_invitation(membership, base_url), robust=True)
    return membership


@transaction.atomic
def portal_user_revoke(*, tenant: Tenant, membership_id: int) -> User:
    """Remove a portal user's access to ``tenant``.

    The membership goes; a login left with no membership anywhere is disabled (and its
    password made unusable), so an old link or session cannot bring it back.
    """
    membership = _portal_membership(tenant, membership_id)
    user = membership.user
    with tenant_context(tenant):
        audit.record(
            action=audit.Action.REVOKE,
            target=user,
            before={"role": membership.role, "organization": membership.organization},
            parent=membership.organization,
            tenant=tenant,
        )
    membership.delete()
    if not Membership.objects.filter(user=user).exists():
        user.is_active = False
        user.set_unusable_password()
        user.save(update_fields=["is_active", "password"])
    return user


@transaction.atomic
def portal_password_set(*, user: User, password: str) -> User:
    """Set a portal user's password, checked by the configured password validators."""
    if not Membership.objects.filter(user=user, role=Role.PORTAL).exists():
        raise ValidationError({"user": "Not a portal login."})
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"new_password2": exc.messages}) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    return user
