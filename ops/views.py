"""The staff two-factor pages: set up an authenticator app, enter a code (or a recovery code)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django_otp import login as otp_login
from django_otp import match_token

from .twofactor import (
    totp_device_confirm,
    totp_device_pending,
    totp_setup_of,
    two_factor_configured,
)


class TokenForm(forms.Form):
    token = forms.CharField(
        label="Code", max_length=16, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                      "autofocus": True}),
    )


def _next_url(request: HttpRequest) -> str:
    """Where to go after: the asked-for page on this site, never another host (no open redirect)."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return candidate
    return reverse("admin:index")


def _user(request: HttpRequest) -> AbstractBaseUser:
    """The signed-in user (the views are login_required)."""
    assert isinstance(request.user, AbstractBaseUser)
    return request.user


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {**admin.site.each_context(request), "next": _next_url(request), **extra}


@never_cache
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    target = "ops:two_factor_verify" if two_factor_configured(_user(request)) else "ops:two_factor_setup"
    response = redirect(target)
    response["Location"] += "?" + request.GET.urlencode() if request.GET else ""
    return response


@never_cache
@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    """Show the secret (QR and text) of a new TOTP device; a correct code confirms it and shows
    the recovery codes, once. Replacing a device needs this session to be verified first."""
    user = _user(request)
    if two_factor_configured(user) and not user.is_verified():  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse("ops:two_factor_verify") + "?" + request.GET.urlencode())
    device = totp_device_pending(user=user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = totp_device_confirm(user=user, device=device, token=form.cleaned_data["token"])
        if codes is not None:
            otp_login(request, device)
            return TemplateResponse(request, "ops/two_factor_codes.html",
                                    _context(request, title="Two-factor authentication is on",
                                             codes=codes))
        form.add_error("token", "That code is not right (or has expired). Enter the current one.")
    return TemplateResponse(request, "ops/two_factor_setup.html",
                            _context(request, title="Set up two-factor authentication", form=form,
                                     setup=totp_setup_of(device)))


@never_cache
@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """A code from the app, or one of the recovery codes (each works once)."""
    if not two_factor_configured(_user(request)):
        return HttpResponseRedirect(reverse("ops:two_factor_setup") + "?" + request.GET.urlencode())
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = match_token(request.user, form.cleaned_data["token"].replace(" ", ""))
        if device is not None:
            otp_login(request, device)
            return HttpResponseRedirect(_next_url(request))
        form.add_error("token", "That code is not right. Try the current one, or a recovery code.")
    return TemplateResponse(request, "ops/two_factor_verify.html",
                            _context(request, title="Two-factor authentication", form=form))
