"""Request guards for staff: idle sessions end, 2FA is required where the settings say so, and
the few pages that still carry an inline script get a narrow CSP exception."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse

from .twofactor import two_factor_required

Handler = Callable[[HttpRequest], HttpResponseBase]

LAST_SEEN_KEY = "ops_last_seen"
# Paths an unverified staff user may still reach: the 2FA pages, logging in and out, assets.
TWO_FACTOR_EXEMPT = ("/accounts/2fa/", "/accounts/login/", "/accounts/logout/", "/admin/login/",
                     "/admin/logout/", "/healthz", "/static/", "/favicon.ico")


class StaffSessionIdleMiddleware:
    """A staff session ends after SESSION_IDLE_SECONDS without a request (the cookie's age
    alone would keep an unattended admin open for weeks)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        idle: int = settings.SESSION_IDLE_SECONDS
        user = request.user
        if idle and user.is_authenticated and (user.is_staff or user.is_superuser):
            now = int(time.time())
            last = request.session.get(LAST_SEEN_KEY)
            if last is not None and now - int(last) > idle:
                logout(request)
            elif last is None or now - int(last) >= min(30, idle):
                request.session[LAST_SEEN_KEY] = now  # written at most every 30 s
        return self.get_response(request)


class StaffTwoFactorMiddleware:
    """Staff who must use 2FA (ops.twofactor.two_factor_required) and have not verified a
    device in this session are sent to set one up or to enter a code."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = request.user
        if (
            two_factor_required(user)
            and not user.is_verified()  # type: ignore[union-attr]  # set by django_otp's OTPMiddleware
            and not request.path.startswith(TWO_FACTOR_EXEMPT)
        ):
            target = reverse("ops:two_factor")
            if request.method == "GET":
                target += "?" + urlencode({"next": request.get_full_path()})
            return HttpResponseRedirect(target)
        return self.get_response(request)
