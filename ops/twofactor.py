"""Two-factor authentication for staff, on django-otp: who needs it, and the device set-up.

A staff user has one TOTP device (an authenticator app) and one static device holding the
recovery codes. Set-up confirms the TOTP device with a code from the app and replaces the
recovery codes; the codes are shown once.
"""

from __future__ import annotations

from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

RECOVERY_DEVICE_NAME = "recovery codes"
TOTP_DEVICE_NAME = "authenticator app"


def two_factor_required(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Superusers always (SUPERUSER_2FA_REQUIRED); other staff when STAFF_2FA_REQUIRED."""
    if not user.is_authenticated:
        return False
    if getattr(user, "is_superuser", False):
        return bool(settings.SUPERUSER_2FA_REQUIRED)
    return bool(getattr(user, "is_staff", False) and settings.STAFF_2FA_REQUIRED)


def two_factor_configured(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_pending(*, user: AbstractBaseUser) -> TOTPDevice:
    """The unconfirmed TOTP device being set up (the same secret until it is confirmed)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


@dataclass(frozen=True)
class TotpSetup:
    secret: str  # base32, for typing into an app by hand
    uri: str  # otpauth://…
    qr_svg: str  # the URI as an inline SVG QR code, drawn here (no third-party service)


def totp_setup_of(device: TOTPDevice) -> TotpSetup:
    import base64

    uri: str = device.config_url
    svg = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return TotpSetup(secret=base64.b32encode(device.bin_key).decode(), uri=uri,
                     qr_svg=svg.to_string(encoding="unicode"))


@transaction.atomic
def totp_device_confirm(*, user: AbstractBaseUser, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm `device` with a code from the app: it replaces the user's other TOTP devices and
    new recovery codes replace the old. Returns the codes (to show once), or None when the
    code is wrong."""
    if device.user_id != user.pk or not device.verify_token(token.strip()):
        return None
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    recovery = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(settings.TWO_FACTOR_RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=recovery, token=code) for code in codes)
    return codes
