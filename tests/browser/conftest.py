"""Browser stories: a real Chromium (Debian's, at /usr/bin/chromium) against the live server.

Playwright's sync API runs an event loop in this thread, and Django refuses ORM calls from a
thread with a running loop unless told it is safe; here it is (the test, not an async view,
is making the calls).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_django.fixtures import Settings

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache(settings: Settings) -> None:
    """The dashboard caches per (scoring run, user). In production that cache is a file every
    server process shares; here each test process keeps its own, empty at each test (ids
    repeat across tests, and parallel test processes must not read each other's entries)."""
    from django.core.cache import caches

    settings.CACHES = {**settings.CACHES, "dashboard": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "dashboard"}}
    for alias in ("default", "dashboard"):
        caches[alias].clear()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Shots:
    """Screenshots of each step, saved as ``artifacts/browser/<test>-<step>.png``."""

    def __init__(self, page: object, test: str) -> None:
        self.page = page
        self.test = re.sub(r"[^\w-]+", "_", test)
        self.n = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def __call__(self, step: str) -> None:
        self.n += 1
        path = ARTIFACTS / f"{self.test}-{self.n:02d}-{step}.png"
        self.page.screenshot(path=str(path), full_page=True)


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> object:
    """``shots(page)`` → a ``Shots`` named after the running test."""
    return lambda page: Shots(page, request.node.name)


TIMEOUT_MS = 10_000


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (cookies, language) per test, English, a laptop's window."""
    ctx = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url(f"{base}/")


@pytest.fixture
def sign_in() -> Any:
    """``sign_in(page, base_url, username)``: through the login form, with the personas'
    password (tests/conftest.py)."""
    return _sign_in
