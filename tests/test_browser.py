"""A bake's Swagger UI in a real browser: Authorize with a password, then call GET /users/me.

This is the first thing most people do with a new FastAPI service, and it exercises what unit
tests cannot: the offline Swagger UI bundle actually runs, the OAuth2 password flow of the
Authorize dialog reaches /auth/login, and the token it gets is accepted. The browser is
Debian's Chromium driven by playwright (no browser download). The screenshot it leaves in
artifacts/swagger-authorize.png (git-ignored) is kept by CI.
"""

import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect, sync_playwright

from harness import bakery, served

pytestmark = pytest.mark.slow

ARTIFACT = bakery.TEMPLATE_DIR / "artifacts" / "swagger-authorize.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    # No traffic of Chromium's own: the test may only reach its loopback server.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 15_000


def chromium_path() -> str:
    """The system Chromium; missing is a skip on a laptop, a failure in CI (.ci/run installs it)."""
    path = shutil.which("chromium")
    if path is None:
        message = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with served.running_bake(tmp_path_factory.mktemp("browser")) as (_, url):
        yield url


@pytest.fixture
def page() -> Iterator[Page]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def test_swagger_ui_authorizes_and_shows_the_current_user(base_url: str, page: Page) -> None:
    elsewhere: list[str] = []

    def record_if_elsewhere(request: Request) -> None:
        # The docs must work offline: every asset comes from the app itself.
        if not request.url.startswith((base_url, "data:", "blob:")):
            elsewhere.append(request.url)

    page.on("request", record_if_elsewhere)
    answer = page.goto(f"{base_url}/docs")
    # Everything below happens under the page's own policy, which allows no other script.
    assert answer is not None
    assert "script-src 'self' 'sha256-" in answer.headers["content-security-policy"]

    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill(served.USERNAME)
    page.locator("#oauth_password").fill(served.PASSWORD)
    page.locator(".auth-container button.authorize").click()
    # The dialog says Authorized only once the token request to /auth/login succeeded.
    expect(page.locator(".auth-container")).to_contain_text("Authorized")
    page.locator("button.btn-done").click()

    operation = page.locator("#operations-users-read_me_users_me_get")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()

    response = operation.locator(".live-responses-table .response").first
    expect(response.locator(".response-col_status")).to_have_text("200")
    expect(response.locator(".response-col_description")).to_contain_text(served.USERNAME)

    ARTIFACT.parent.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACT, full_page=True)
    assert ARTIFACT.stat().st_size > 0
    assert elsewhere == [], "Swagger UI loaded something from outside the app"


def test_redoc_renders_under_its_policy(base_url: str, page: Page) -> None:
    answer = page.goto(f"{base_url}/redoc")
    assert answer is not None
    assert "style-src 'self' 'sha256-" in answer.headers["content-security-policy"]
    # ReDoc's styles are <style> elements allowed by the nonce: without it, ReDoc shows an
    # error page instead of the operations.
    expect(page.locator(".menu-content")).to_contain_text("auth")
    expect(page.get_by_text("/auth/login").first).to_be_attached()
    expect(page.get_by_text("Something went wrong")).to_have_count(0)
