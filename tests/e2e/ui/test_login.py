"""Login, logout and session expiry in the web UI, its accessibility and its tablet layout."""

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.ui.conftest import Ui
from tests.support.browser import TABLET, assert_accessible, fill_login, login, screenshot

pytestmark = pytest.mark.e2e

EXPIRED = re.compile(r"session has expired", re.IGNORECASE)


def session_tokens(page: Page) -> tuple[str, str]:
    """The page's session: its JSESSIONID cookie and the sessionkey the UI keeps per tab."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    session_key = page.evaluate("() => window.sessionStorage.getItem('kvmcloud.sessionkey')")
    assert "JSESSIONID" in cookies and isinstance(session_key, str), (cookies.keys(), session_key)
    return cookies["JSESSIONID"], session_key


def call_with_session(ui: Ui, command: str, session_id: str, **params: str) -> httpx.Response:
    """Call the API as the browser does: the session cookie and a sessionkey parameter."""
    return httpx.post(
        ui.stack.endpoint,
        data={"command": command, "response": "json", **params},
        headers={"Cookie": f"JSESSIONID={session_id}"},
        timeout=10,
    )


def expect_login_screen(page: Page) -> None:
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def expect_dashboard(page: Page) -> None:
    """The dashboard is shown with the stack's one host and one pool counted."""
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    # In the screen, not the navigation, which has links of the same names.
    screen = page.get_by_role("main")
    for label in ("Hosts", "Primary storage"):
        expect(screen.get_by_role("link", name=re.compile(label))).to_have_text(
            re.compile(rf"^\s*1\s*{label}\s*$")
        )


def test_admin_logs_in_and_sees_the_dashboard(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)

    expect_dashboard(page)
    expect(page.get_by_text(f"{ui.username} (admin)")).to_be_visible()
    screenshot(page, "dashboard")


def test_wrong_password_shows_the_api_error_and_stays_on_login(ui: Ui, page: Page) -> None:
    page.goto(ui.url)
    with page.expect_response(lambda r: r.url.endswith("/client/api")) as answered:
        fill_login(page, ui.username, ui.password + "-wrong")
    reply: dict[str, Any] = answered.value.json()
    errortext = reply["loginresponse"]["errortext"]
    assert answered.value.status == 531 and errortext

    expect(page.get_by_role("alert")).to_have_text(errortext)
    expect_login_screen(page)
    screenshot(page, "login-refused")


def test_logout_returns_to_login_and_ends_the_session(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    session_id, session_key = session_tokens(page)
    assert call_with_session(ui, "listZones", session_id, sessionkey=session_key).status_code == 200

    page.get_by_role("button", name="Log out").click()

    expect_login_screen(page)
    expect(page.get_by_role("status")).to_have_text(re.compile("logged out", re.IGNORECASE))
    refused = call_with_session(ui, "listZones", session_id, sessionkey=session_key)
    assert refused.status_code == 401, refused.text
    # Nor does the browser keep a session it could fall back on.
    page.reload()
    expect_login_screen(page)


def test_session_ended_elsewhere_brings_the_login_screen_with_a_message(ui: Ui, page: Page) -> None:
    login(page, ui.url, ui.username, ui.password)
    expect_dashboard(page)
    page.goto(f"{ui.url}#/nowhere")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    session_id, _ = session_tokens(page)
    # Behind the browser's back: the same session ends, as when it times out.
    assert call_with_session(ui, "logout", session_id).status_code == 200

    # The next action (the dashboard asks the API for its counts) finds the session gone.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()

    expect_login_screen(page)
    expect(page.get_by_role("status")).to_have_text(EXPIRED)
    screenshot(page, "session-expired")
    # Logging in again from there works and clears the message.
    fill_login(page, ui.username, ui.password)
    expect_dashboard(page)
    expect(page.get_by_text(EXPIRED)).to_have_count(0)


def test_login_page_and_dashboard_are_accessible(ui: Ui, page: Page) -> None:
    page.goto(ui.url)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert_accessible(page)

    login(page, ui.url, ui.username, ui.password)
    expect_dashboard(page)
    assert_accessible(page)


def test_navigation_is_usable_at_tablet_width(ui: Ui, tablet_page: Page) -> None:
    page = tablet_page
    login(page, ui.url, ui.username, ui.password)
    expect_dashboard(page)

    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_be_visible()
    links = navigation.get_by_role("link")
    assert links.count() > 0
    for link in links.all():
        box = link.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= TABLET["width"], (
            f"{link.inner_text()!r} lies outside the {TABLET['width']} px viewport: {box}"
        )
    logout_box = page.get_by_role("button", name="Log out").bounding_box()
    assert logout_box is not None and logout_box["x"] + logout_box["width"] <= TABLET["width"]
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px at tablet width"
    screenshot(page, "dashboard-tablet")

    # The navigation works by keyboard: Enter on a focused link opens its screen.
    page.goto(f"{ui.url}#/nowhere")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    dashboard = navigation.get_by_role("link", name="Dashboard")
    dashboard.focus()
    page.keyboard.press("Enter")
    expect_dashboard(page)


def test_the_accessibility_check_fails_on_an_unlabelled_control(ui: Ui, page: Page) -> None:
    # The check above proves something only if axe runs under the UI's CSP and is heard.
    page.goto(ui.url)
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.evaluate(
        "() => document.querySelector('form').append(Object.assign("
        "document.createElement('input'), {id: 'unlabelled'}))"
    )
    with pytest.raises(AssertionError, match=r"label \(critical\).*#unlabelled"):
        assert_accessible(page)


def test_login_works_by_keyboard_alone(ui: Ui, page: Page) -> None:
    page.goto(ui.url)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Username")).to_be_focused()
    page.keyboard.type(ui.username)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(ui.password)
    page.keyboard.press("Enter")

    expect_dashboard(page)
    # The first Tab stop of the layout skips the navigation to the screen itself.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
