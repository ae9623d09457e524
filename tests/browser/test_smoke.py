"""Each staff role signs in and sees the dashboard."""

from __future__ import annotations

import pytest

from billing_site.roles import Role

from .conftest import login, shot


@pytest.mark.parametrize("role", [Role.BILLING_ADMIN])
def test_each_role_signs_in_and_sees_the_dashboard(page, staff_user, role):
    user = staff_user(role)
    login(page, user)
    assert page.url.endswith("/")
    header = page.locator(".user").inner_text()
    assert user.get_full_name() in header
    shot(page, f"smoke-{role}")
