"""Real-browser fixtures: Playwright driving Debian's chromium against pytest-django's live server."""

import os

import pytest

from tests.conftest import CHROMIUM

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it are
# still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"needs Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    if os.environ.get("E2E_SLOW_SETTLE"):
        pg.route("**/htmx.min.js*", _htmx_settling_slowly)
    yield pg
    context.close()


def _htmx_settling_slowly(route) -> None:
    """Serve htmx with a 700 ms settle delay (E2E_SLOW_SETTLE=1), so a test that acts on swapped-in
    content before htmx has bound it fails every time; see htmx_settled()."""
    response = route.fetch()
    route.fulfill(response=response, body=response.text() + ";htmx.config.defaultSettleDelay=700;")


def login(page, email: str, password: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def htmx_settled(page) -> None:
    """Wait until htmx has no request in flight and has finished settling what it swapped in.

    htmx binds the hx-* attributes of swapped-in content when it settles, a few milliseconds after the
    new elements appear: an event fired on them before that reaches no handler and is lost."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
