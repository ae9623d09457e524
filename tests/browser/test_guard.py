"""The guard every browser test relies on: it sees requests to other hosts (and stops
them), uncaught JavaScript errors and 5xx answers."""

from __future__ import annotations

import re


def test_a_request_to_another_host_is_stopped_and_seen(page, watch):
    # A page of the live server's origin without our security headers: only the guard
    # stands between it and the CDN.
    page.route(
        re.compile(r"/no-policy/$"),
        lambda route: route.fulfill(
            content_type="text/html",
            body='<img src="https://cdn.example.test/logo.png" alt="">',
        ),
    )
    page.goto("/no-policy/")
    page.wait_for_load_state("networkidle")
    guard = watch(page)
    assert guard.external == ["https://cdn.example.test/logo.png"]
    assert guard.problems() == [
        "request to another host (must be served locally): https://cdn.example.test/logo.png"
    ]
    guard.external.clear()  # seen on purpose: the test itself must pass


def test_what_the_content_security_policy_refuses_is_seen(page, watch):
    page.goto("/login/")
    outcome = page.evaluate(
        "fetch('https://cdn.example.test/lib.js').then(() => 'loaded', () => 'refused')"
    )
    assert outcome == "refused"
    page.wait_for_timeout(50)
    guard = watch(page)
    assert guard.external == []  # the browser never sent it
    assert len(guard.blocked_by_csp) >= 1
    assert all("cdn.example.test" in text for text in guard.blocked_by_csp)
    guard.blocked_by_csp.clear()


def test_an_uncaught_javascript_error_is_seen(page, watch):
    page.goto("/login/")
    page.evaluate("setTimeout(() => { throw new Error('boom in a handler') })")
    guard = watch(page)
    page.wait_for_function("true")  # let the timer run
    page.wait_for_timeout(50)
    assert len(guard.js_errors) == 1 and "boom in a handler" in guard.js_errors[0]
    guard.js_errors.clear()


def test_a_server_error_is_seen_unless_allowed(page, watch):
    # The live server answers no 5xx on purpose; a route stands in for a failing view.
    page.route(
        re.compile(r"/failing/"), lambda route: route.fulfill(status=500, body="Server Error")
    )
    page.route(re.compile(r"/flaky/"), lambda route: route.fulfill(status=503, body="busy"))
    guard = watch(page)
    guard.allow_5xx(r"/flaky/")
    page.goto("/failing/")
    page.goto("/flaky/")
    assert len(guard.server_errors) == 1
    assert guard.server_errors[0].startswith("500 GET ") and "/failing/" in guard.server_errors[0]
    guard.server_errors.clear()


def test_console_errors_are_collected_without_failing(page, watch):
    page.goto("/login/")
    page.evaluate("console.error('shown in the report')")
    page.wait_for_timeout(50)
    guard = watch(page)
    assert any("shown in the report" in line for line in guard.console_errors)
    assert guard.problems() == []


def test_the_mobile_page_is_phone_sized(mobile_page, new_page):
    assert mobile_page.viewport_size == {"width": 390, "height": 844}
    wide = new_page(width=1920, height=1080)
    assert wide.viewport_size == {"width": 1920, "height": 1080}
    mobile_page.goto("/login/")
    assert mobile_page.evaluate("window.innerWidth") == 390
