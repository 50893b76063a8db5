"""The UI tests' fixtures: a running kvmcloud serving the web UI, and Debian Chromium pages.

The stack runs on SQLite only: the UI is a client of the API, whose behaviour on PostgreSQL
the other end-to-end tests already check, and a browser run per backend would double the
slowest tests of the suite for nothing.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    ViewportSize,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import Stack, running_stack
from tests.support.browser import (
    DESKTOP,
    TABLET,
    UI_INDEX,
    BrowserMissingError,
    ConsoleLog,
    launch_chromium,
    open_page,
    screenshot,
)
from tests.support.required import in_ci

pytestmark = pytest.mark.e2e

_CONSOLE = pytest.StashKey[dict[str, ConsoleLog]]()
_FAILED = pytest.StashKey[bool]()
# The fixtures that hold a page, looked for in a failing test's arguments.
_PAGE_FIXTURES = ("page", "tablet_page")


@dataclass(frozen=True)
class Ui:
    """A running kvmcloud with its web UI, and the bootstrap admin's login."""

    stack: Stack
    # http://127.0.0.1:PORT/client/ (the API stays at /client/api).
    url: str
    username: str
    password: str


def _skip_or_fail(reason: str) -> NoReturn:
    # In CI a missing browser or UI build is a broken setup: the tests would pass untested.
    if in_ci():
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


@contextmanager
def running_ui(workdir: Path, agent_env: dict[str, str] | None = None) -> Iterator[Ui]:
    """A stack on SQLite in ``workdir`` serving the built UI; ``agent_env`` goes to the agent."""
    if not UI_INDEX.exists():
        _skip_or_fail(f"the web UI is not built ({UI_INDEX} is missing): run `make ui`")
    with running_stack(f"sqlite:///{workdir}/kvmcloud.db", workdir, agent_env) as stack:
        assert stack.keys.password, "the first init prints the admin's generated password"
        url = stack.endpoint.removesuffix("api")
        yield Ui(stack=stack, url=url, username="admin", password=stack.keys.password)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    with running_ui(tmp_path_factory.mktemp("ui")) as running:
        yield running


# Module scope, not session: the sync API keeps an asyncio loop running in the main thread
# while it is open, and later tests that run their own loop (asyncio.run) would fail.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    try:
        chromium = launch_chromium(playwright)
    except BrowserMissingError as exc:
        _skip_or_fail(str(exc))
    try:
        yield chromium
    finally:
        chromium.close()


def _page(
    request: pytest.FixtureRequest, browser: Browser, name: str, viewport: ViewportSize
) -> Iterator[Page]:
    with open_page(browser, viewport) as page:
        log = request.node.stash.setdefault(_CONSOLE, {})[name] = ConsoleLog.attach(page)
        yield page
    # A test that passed while the UI threw passed by luck; a failed one already reports it.
    if not request.node.stash.get(_FAILED, False):
        assert not log.uncaught, f"the UI threw uncaught exceptions: {log.uncaught}"


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A fresh context and page at 1280×800, the desktop size the UI is made for."""
    yield from _page(request, browser, "page", DESKTOP)


@pytest.fixture
def tablet_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A fresh context and page at a tablet's width, 768×1024."""
    yield from _page(request, browser, "tablet_page", TABLET)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failing test, save each of its pages as a screenshot and show their console errors.

    CI keeps var/ui-screenshots/; the picture and the page's own errors explain most UI
    failures that the assertion message alone does not.
    """
    report = yield
    if not report.failed or call.when != "call":
        return report
    item.stash[_FAILED] = True
    funcargs = getattr(item, "funcargs", {})
    for name in _PAGE_FIXTURES:
        page = funcargs.get(name)
        if not isinstance(page, Page):
            continue
        try:
            path = screenshot(page, f"failed-{item.nodeid}-{name}")
            report.sections.append((f"{name} screenshot", str(path)))
        except Exception as exc:  # the page may be what broke: still report the rest
            report.sections.append((f"{name} screenshot", f"could not be taken: {exc}"))
        errors = item.stash.get(_CONSOLE, {}).get(name)
        if errors is not None:
            report.sections.append((f"{name} console errors", "\n".join(errors.errors) or "(none)"))
    return report


def expect_step(page: Page, number: int, title: str, *, focused: bool = True) -> None:
    """The deploy wizard shows step ``number``: its indicator and its heading.

    The heading has the focus after a move to the step, not after a step's refusal.
    """
    steps = page.get_by_role("navigation", name="Deploy steps")
    expect(steps.locator('[aria-current="step"]')).to_have_text(f"{number}. {title}")
    heading = page.get_by_role("heading", level=2, name=f"Step {number} of 5: {title}")
    expect(heading).to_be_visible()
    if focused:
        expect(heading).to_be_focused()


def deploy_with_wizard(
    page: Page,
    *,
    name: str,
    offering: str,
    template: str | None = None,
    iso: str | None = None,
    disk_offering: str | None = None,
    pool_tags: Sequence[str] = (),
    networks: Sequence[str] = (),
) -> None:
    """Walk the open deploy wizard from its first step to Deploy, choosing what is given."""
    page.get_by_role("button", name="Next").click()
    expect_step(page, 2, "Image")
    if iso is not None:
        page.get_by_role("radio", name="An ISO").check()
        expect(page.get_by_role("combobox", name="ISO")).to_contain_text(iso)
        page.get_by_role("combobox", name="ISO").select_option(label=iso)
        if disk_offering is not None:
            page.get_by_label("Disk offering").select_option(label=disk_offering)
    else:
        assert template is not None, "a template or an ISO"
        expect(page.get_by_role("combobox", name="Template")).to_contain_text(template)
        page.get_by_role("combobox", name="Template").select_option(label=template)
    page.get_by_role("button", name="Next").click()
    expect_step(page, 3, "Offering")
    for tag in pool_tags:
        page.get_by_role("checkbox", name=tag, exact=True).check()
    page.get_by_label("Service offering").select_option(label=offering)
    page.get_by_role("button", name="Next").click()
    expect_step(page, 4, "Network")
    for network in networks:
        page.get_by_role("checkbox", name=network).check()
    page.get_by_role("button", name="Next").click()
    expect_step(page, 5, "Review")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Deploy").click()
