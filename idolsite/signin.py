"""Sign-in lockout (django-axes): failed sign-ins are counted in the database, so every web
process sees the same count, per account and per client address; the labeling login, the admin
login and the API's token endpoint all authenticate through ``LockoutBackend``.

Unlock: the admin's "Access attempts" pages, or ``manage.py axes_reset``,
``axes_reset_username NAME``, ``axes_reset_ip ADDRESS``.
"""

from __future__ import annotations

import ipaddress
import math
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Q
from django.forms.utils import ErrorDict
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from core.api import error_body


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or with N trusted proxies in front
    (``IDOLSITE_TRUSTED_PROXIES``) the address the outermost of them saw, the N-th entry of
    ``X-Forwarded-For`` from the right. Entries further left are the client's own words."""
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.IDOLSITE_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote
    candidate = forwarded[-min(proxies, len(forwarded))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:  # a proxy that writes garbage: count the proxy's own address instead
        return remote


class LockoutBackend(AxesStandaloneBackend):
    """Refuses any sign-in while the account or the address is locked out; the next backend
    checks the password. Without a request (a shell, a script) there is no address to count,
    and nothing reaches this from the web without one."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:  # type: ignore[override]
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class LockoutHandler(AxesDatabaseHandler):
    """A successful sign-in forgets the failures of that account from that address only:
    failures others made on the account, or from the address on other accounts, still count
    (axes' own reset would delete every row of the address or the account, so one attacker
    with an account of their own could clear the count of the account they guess)."""

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        deleted, _ = AccessAttempt.objects.filter(username=username, ip_address=request.axes_ip_address).delete()
        return deleted


def retry_after_seconds(request: HttpRequest, username: str | None) -> int:
    """Seconds until the lockout ends: the cool-off from the last failure counted against the
    account or the address (failures during a lockout are not counted, so it does end)."""
    cooloff = settings.AXES_COOLOFF_TIME.total_seconds()
    ip_address = getattr(request, "axes_ip_address", None)
    last = AccessAttempt.objects.filter(Q(username=username) | Q(ip_address=ip_address)).aggregate(
        last=Max("attempt_time")
    )["last"]
    if last is None:
        return math.ceil(cooloff)
    return max(1, math.ceil(cooloff - (timezone.now() - last).total_seconds()))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minute.",
        "Too many failed sign-ins for this account or from this address. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: 429 with ``Retry-After``; the API's error shape under
    ``/api/``, else the login form that was posted (the admin's or the labeling pages') with
    the message in place of the form's errors."""
    username = get_client_username(request, credentials)
    seconds = retry_after_seconds(request, username)
    message = lockout_message(seconds)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body("locked_out", message), status=429)
    else:
        # Bound but never cleaned: cleaning would authenticate again and count one more failure.
        form = AuthenticationForm(request, data={"username": username or ""})
        form._errors = ErrorDict({"__all__": form.error_class([message], error_class="nonfield")})
        match = request.resolver_match
        if match is not None and match.app_name == "admin":
            context = {
                **admin.site.each_context(request),
                "title": _("Log in"),
                "subtitle": None,
                "app_path": request.get_full_path(),
                "username": "",
                "form": form,
                "next": request.POST.get("next", ""),
            }
            response = render(request, "admin/login.html", context, status=429)
        else:
            response = render(
                request, "labeling/login.html", {"form": form, "next": request.POST.get("next", "")}, status=429
            )
    response["Retry-After"] = str(seconds)
    return response
