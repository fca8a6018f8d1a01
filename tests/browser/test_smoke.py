"""The browser harness itself: the admin login page renders under the strict CSP."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_admin_login_renders_without_csp_violations(page, shot):
    response = page.goto("/admin/login/")
    assert response is not None and response.status == 200
    assert "content-security-policy" in {k.lower() for k in response.headers}
    page.get_by_label("Username").fill("nobody")
    assert page.locator("input[name=password]").is_visible()
    assert shot(page, "admin-login").stat().st_size > 1000
    # A style or script blocked by the CSP shows up as a console error.
    assert page.console_errors == []
