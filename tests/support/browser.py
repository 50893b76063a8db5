"""Driving Debian's Chromium with Playwright: launch, pages, login, screenshots, axe checks."""

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, ViewportSize, expect

REPO = Path(__file__).resolve().parents[2]
# Debian's package (scripts/install-system-deps): Playwright's own browser download does not
# work on the project's machines, so the suite never runs `playwright install`.
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google's hosts, and the
# machines' closed network refuses those connections (many at a time); --no-sandbox because
# the suite runs as root.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = ViewportSize(width=1280, height=800)
TABLET = ViewportSize(width=768, height=1024)
# Inside the repository (CI keeps it) and under the gitignored var/.
SCREENSHOTS = REPO / "var" / "ui-screenshots"
AXE = REPO / "ui" / "node_modules" / "axe-core" / "axe.min.js"
# What the built UI looks like on disk (`make ui`); the server serves it at /client/.
UI_INDEX = REPO / "src" / "kvmcloud" / "server" / "webui" / "static" / "index.html"
# axe's impact levels that fail a test; "minor" and "moderate" ones are only reported.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})
# Playwright's own waits: the UI answers from a local server, a few seconds is generous.
ACTION_TIMEOUT_MS = 10_000


class BrowserMissingError(RuntimeError):
    """Debian's chromium is not installed."""


def launch_chromium(playwright: Playwright) -> Browser:
    """Start headless Debian Chromium, with the flags the closed network needs.

    Raises:
        BrowserMissingError: /usr/bin/chromium is absent (scripts/install-system-deps).
    """
    if not CHROMIUM.exists():
        raise BrowserMissingError(f"{CHROMIUM} is missing (Debian package chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))


@dataclass
class ConsoleLog:
    """The errors a page wrote to its console, and the exceptions its scripts did not catch."""

    errors: list[str] = field(default_factory=list)
    # Uncaught exceptions alone: a console error may be an expected refusal (a 531 login),
    # an uncaught exception is always a bug in the UI.
    uncaught: list[str] = field(default_factory=list)

    @classmethod
    def attach(cls, page: Page) -> "ConsoleLog":
        log = cls()

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                log.errors.append(f"console: {message.text} ({message.location.get('url')})")

        def on_page_error(error: Exception) -> None:
            log.uncaught.append(f"{error}")
            log.errors.append(f"uncaught: {error}")

        page.on("console", on_console)
        page.on("pageerror", on_page_error)
        return log


@contextmanager
def open_page(browser: Browser, viewport: ViewportSize = DESKTOP) -> Iterator[Page]:
    """A page in a fresh context (own cookies and storage) at ``viewport``; closed after."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


def login(page: Page, ui_url: str, username: str, password: str) -> None:
    """Open the UI, log in through its form, and wait until the logged-in layout shows."""
    page.goto(ui_url)
    fill_login(page, username, password)
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def fill_login(page: Page, username: str, password: str) -> None:
    """Fill the login form and press Log in; waits for nothing (the caller checks the outcome)."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as ``var/ui-screenshots/<name>.png``; return the path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{_file_name(name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "page"


@dataclass(frozen=True)
class Violation:
    """One axe rule a page breaks, with the elements that break it."""

    rule: str
    impact: str
    help: str
    targets: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rule} ({self.impact}): {self.help}; at {', '.join(self.targets)}"


def axe_violations(page: Page) -> list[Violation]:
    """Run axe-core (ui/node_modules, the UI's devDependency) on the page as it is now."""
    if not AXE.exists():
        raise FileNotFoundError(f"{AXE} is missing: run `npm ci` in ui/ (make ui does)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through the DevTools protocol, which the UI's Content-Security-Policy
        # (script-src 'self') does not govern; a <script> tag would be refused, and turning
        # the CSP off for the test would hide an inline script in the UI itself.
        page.evaluate(f"{AXE.read_text()}\n;undefined")
    raw: list[dict[str, Any]] = page.evaluate(
        "async () => (await window.axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        Violation(
            rule=item["id"],
            impact=item.get("impact") or "unknown",
            help=item["help"],
            targets=tuple(json.dumps(node["target"]) for node in item["nodes"]),
        )
        for item in raw
    ]


def assert_accessible(page: Page) -> None:
    """Fail when axe finds a serious or critical violation on the page; list each one."""
    blocking = [v for v in axe_violations(page) if v.impact in BLOCKING_IMPACTS]
    assert not blocking, f"axe: {len(blocking)} serious/critical violation(s) on {page.url}:\n" + (
        "\n".join(f"  {v}" for v in blocking)
    )
