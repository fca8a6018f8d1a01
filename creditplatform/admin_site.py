"""The admin site: staff with a verified second factor (django-otp TOTP) only.

``settings.ADMIN_REQUIRE_OTP`` (default: on outside the embedded demo) is read per request, so
a deployment cannot forget it by import order. Each admin login is a security event.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest
from django_otp.admin import OTPAdminAuthenticationForm, _admin_template_for_django_version


class PlatformAdminSite(admin.AdminSite):
    site_header = "creditplatform administration"
    site_title = "creditplatform"

    @property
    def login_form(self) -> Any:  # type: ignore[override]
        return OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_OTP else AuthenticationForm

    @property
    def login_template(self) -> str | None:  # type: ignore[override]
        return _admin_template_for_django_version() if settings.ADMIN_REQUIRE_OTP else None

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff, and verified by a TOTP device when the second factor is required."""
        if not super().has_permission(request):
            return False
        if settings.ADMIN_REQUIRE_OTP:
            return bool(getattr(request.user, "is_verified", lambda: False)())
        return True
