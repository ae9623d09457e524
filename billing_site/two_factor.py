"""Two-factor sign-in for staff: TOTP from an authenticator app (django-otp), with
single-use recovery codes.

A staff member with a confirmed authenticator signs in with a password, then a code
(``TwoFactorVerifyView``); until then every page but sign-in, sign-out and the two-factor
pages sends them there (``TwoFactorMiddleware``). A tenant may require it of owners and
billing admins (``Tenant.require_two_factor``): one who has none is sent to set it up
before anything else. API tokens are not affected (a token is its own credential; see
``billing_site.api.tokens``).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import TemplateView
from django_otp import login as otp_login
from django_otp import match_token, user_has_device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from .roles import Role
from .views_base import StaffViewMixin

RECOVERY_CODES = 10
REQUIRED_ROLES = (Role.OWNER, Role.BILLING_ADMIN)
AUTHENTICATOR = "Authenticator app"
RECOVERY = "Recovery codes"
# Reachable before the second step: signing in and out, the two-factor pages, assets.
OPEN_PATHS = (
    "/login/",
    "/logout/",
    "/password-reset/",
    "/two-factor/",
    "/static/",
    "/healthz",
    "/favicon",
)


def confirmed_authenticator(user) -> TOTPDevice | None:
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def is_required(membership) -> bool:
    return bool(
        membership is not None
        and membership.tenant.require_two_factor
        and membership.role in REQUIRED_ROLES
    )


def _new_recovery_codes(user) -> list[str]:
    """Replace the user's recovery codes with a new set (each works once)."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [f"{secrets.randbelow(10**10):010d}" for _ in range(RECOVERY_CODES)]
    for code in codes:
        device.token_set.create(token=code)
    return codes


@transaction.atomic
def authenticator_confirm(*, user, device: TOTPDevice, code: str) -> list[str] | None:
    """Confirm a new authenticator with a code it shows; its recovery codes, or None when
    the code is wrong."""
    if device.confirmed or not device.verify_token(code.replace(" ", "")):
        return None
    from audit import services as audit

    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit.record_for_user(user=user, action=audit.Action.TWO_FACTOR_ON)
    return _new_recovery_codes(user)


@transaction.atomic
def two_factor_remove(*, user) -> None:
    from audit import services as audit

    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit.record_for_user(user=user, action=audit.Action.TWO_FACTOR_OFF)


NO_AUTHENTICATOR = "two_factor_none"


def _has_authenticator(request, user) -> bool:
    """Whether the user has a confirmed authenticator; "none" is remembered for the
    session (a device set up in it verifies it at once), so pages cost no query for it."""
    if request.session.get(NO_AUTHENTICATOR) == user.pk:
        return False
    found = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if not found:
        request.session[NO_AUTHENTICATOR] = user.pk
    return found


def remember_at_login(sender, request, user, **kwargs) -> None:
    """``user_logged_in``: whether the user has an authenticator is looked up once, when
    the session is made (it is written then anyway), not on the first page after it."""
    from django.contrib.auth import SESSION_KEY

    session = getattr(request, "session", None)
    if session is None or session.get(SESSION_KEY) is None:
        return  # not a browser session (e.g. the API's token endpoint)
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        session[NO_AUTHENTICATOR] = user.pk


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=False):
        return target
    return fallback


class TwoFactorMiddleware:
    """Sends a signed-in staff member to the second step (or to set it up when their
    tenant requires it) before any other page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(OPEN_PATHS)
            and not user.is_verified()
        ):
            query = urlencode({"next": request.get_full_path()})
            if _has_authenticator(request, user):
                return redirect(f"{reverse('two-factor-verify')}?{query}")
            if is_required(getattr(request, "membership", None)):
                messages.info(
                    request, "Your company asks for two-factor sign-in: set it up to go on."
                )
                return redirect(f"{reverse('two-factor')}?{query}")
        return self.get_response(request)


class TwoFactorVerifyView(StaffViewMixin, TemplateView):
    """The second step of signing in: a code from the authenticator app or a recovery code."""

    template_name = "billing_site/two_factor_verify.html"

    def get(self, request, *args, **kwargs):
        if request.user.is_verified() or not user_has_device(request.user, confirmed=True):
            return redirect(_safe_next(request, resolve_url("dashboard")))
        return super().get(request, *args, **kwargs)

    def post(self, request):
        code = request.POST.get("code", "").replace(" ", "").strip()
        device = match_token(request.user, code) if code else None
        if device is None:
            return self.render_to_response(
                self.get_context_data(error="That code is not right, or was used already.")
            )
        otp_login(request, device)
        if isinstance(device, StaticDevice):
            left = device.token_set.count()
            messages.warning(
                request,
                f"Signed in with a recovery code; {left} left. Make new ones on your "
                "two-factor page if you are running out.",
            )
        return redirect(_safe_next(request, resolve_url("dashboard")))

    def get_context_data(self, **kwargs):
        return super().get_context_data(next=_safe_next(self.request, ""), **kwargs)


class TwoFactorView(StaffViewMixin, TemplateView):
    """Your two-factor sign-in: set up an authenticator app, new recovery codes, turn off."""

    template_name = "billing_site/two_factor.html"

    def _pending(self):
        device = TOTPDevice.objects.filter(user=self.request.user, confirmed=False).first()
        return device or TOTPDevice.objects.create(
            user=self.request.user, name=AUTHENTICATOR, confirmed=False
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        active = confirmed_authenticator(user)
        context.update(
            active=active,
            required=is_required(getattr(self.request, "membership", None)),
            recovery_left=sum(
                device.token_set.count() for device in StaticDevice.objects.filter(user=user)
            ),
            next=_safe_next(self.request, ""),
        )
        if active is None:
            pending = self._pending()
            context.update(
                qr_svg=_qr_svg(pending.config_url),
                secret=_spaced(pending.key),
                pending=pending,
            )
        return context

    def post(self, request):
        action = request.POST.get("action")
        user = request.user
        if action == "confirm":
            pending = self._pending()
            codes = authenticator_confirm(
                user=user, device=pending, code=request.POST.get("code", "")
            )
            if codes is None:
                return self.render_to_response(
                    self.get_context_data(error="That code is not right: try the current one.")
                )
            otp_login(request, TOTPDevice.objects.get(pk=pending.pk))
            messages.success(request, "Two-factor sign-in is on.")
            return self.render_to_response(self.get_context_data(recovery_codes=codes))
        if not user.is_verified():
            return redirect(f"{reverse('two-factor-verify')}?next={reverse('two-factor')}")
        if action == "recovery":
            codes = _new_recovery_codes(user)
            messages.success(request, "New recovery codes made; the old ones no longer work.")
            return self.render_to_response(self.get_context_data(recovery_codes=codes))
        if action == "remove":
            if is_required(getattr(request, "membership", None)):
                messages.error(request, "Your company requires two-factor sign-in for your role.")
                return redirect("two-factor")
            if match_token(user, request.POST.get("code", "").replace(" ", "")) is None:
                return self.render_to_response(
                    self.get_context_data(error="Enter a current code to turn it off.")
                )
            two_factor_remove(user=user)
            messages.success(request, "Two-factor sign-in is off.")
            return redirect("two-factor")
        return redirect("two-factor")


def _spaced(hex_key: str) -> str:
    from base64 import b32encode

    secret = b32encode(bytes.fromhex(hex_key)).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _qr_svg(url: str) -> str:
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")
