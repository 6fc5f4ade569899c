"""A bake's Swagger UI in a real browser: Authorize with a password, then call GET /users/me.

This is the first thing most people do with a new FastAPI service, and it exercises what unit
tests cannot: the offline Swagger UI bundle actually runs, the OAuth2 password flow of the
Authorize dialog reaches /auth/login, and the token it gets is accepted. The browser is
Debian's Chromium driven by playwright (no browser download); the screenshot it leaves in
artifacts/ is kept by CI.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bakery
import pytest
from playwright.sync_api import Page, expect, sync_playwright

pytestmark = pytest.mark.slow

USERNAME = "alice@example.com"
PASSWORD = "correct horse battery staple"
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
START_TIMEOUT_SECONDS = 30
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


def free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_cli(project: Path, package: str, *args: str, stdin: str = "") -> None:
    """Run `python -m <package> ...` in the bake, as its README tells a user to."""
    result = subprocess.run(
        [sys.executable, "-m", package, *args],
        cwd=project,
        env=bakery.tool_env(PYTHONPATH="src"),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def wait_until_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode} before answering /health")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer {url}/health within {START_TIMEOUT_SECONDS}s")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A default bake, migrated, with one user, served by `python -m <package> serve`."""
    project = bakery.bake(tmp_path_factory.mktemp("browser"))
    package = str(bakery.answers_of(project)["package_name"])
    run_cli(project, package, "migrate")
    run_cli(project, package, "create-user", USERNAME, "--password-stdin", stdin=f"{PASSWORD}\n")
    port = free_loopback_port()
    url = f"http://127.0.0.1:{port}"
    log = (project / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", package, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project,
        env=bakery.tool_env(PYTHONPATH="src"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until_healthy(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


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
    outside_requests: list[str] = []
    page.on(
        "request",
        lambda request: None
        if request.url.startswith((base_url, "data:", "blob:"))
        else outside_requests.append(request.url),
    )
    page.goto(f"{base_url}/docs")

    page.locator("button.authorize").first.click()
    page.locator("#oauth_username").fill(USERNAME)
    page.locator("#oauth_password").fill(PASSWORD)
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
    expect(response.locator(".response-col_description")).to_contain_text(USERNAME)

    ARTIFACT.parent.mkdir(exist_ok=True)
    operation.scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACT, full_page=True)
    assert outside_requests == [], "Swagger UI reached beyond the app"
