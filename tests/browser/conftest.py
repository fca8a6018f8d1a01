"""Headless Chromium for the browser tests (issues 7 and 11).

Playwright drives Debian's ``chromium`` (``/usr/bin/chromium``, installed by
``scripts/browser.sh``, which ``make test`` and ``.ci/run`` call) through ``executable_path``;
Playwright's own browser download is never used. Fixtures:

* ``browser``  - a headless Chromium per test (``--no-sandbox`` for root in CI);
* ``page``     - a fresh context and page whose relative URLs resolve against ``live_server``;
  console errors (CSP violations included) and every response >= 400 are collected on
  ``page.console_errors``;
* ``shot``     - ``shot(page, "name")`` saves a full-page PNG to
  ``test-artifacts/browser/<test>-<name>.png`` (kept by CI as artifacts) and returns its path.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"))


@pytest.fixture
def browser(transactional_db: None, live_server: Any) -> Iterator[Any]:
    """A headless Debian Chromium for one test.

    Playwright's sync API keeps an event loop running in the test thread, so Django's
    async-safety check is lifted exactly while it runs; the database fixture is requested
    first so that its flush happens after Playwright has stopped.
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/browser.sh (make test does) "
                    "or set CHROMIUM_PATH", pytrace=False)
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as pw:
            chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-gpu"])
            try:
                yield chromium
            finally:
                # The test's queries ran while Playwright's event loop was running, on a
                # connection of that context: close it there, or it outlives the test and the
                # test database cannot be dropped at the end of the run.
                from django.db import connections

                connections.close_all()
                chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A new browser context whose relative URLs resolve against ``live_server``."""
    context = browser.new_context(base_url=live_server.url, accept_downloads=True,
                                  viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    pg.console_errors = []
    pg.on("console", lambda msg: msg.type == "error" and pg.console_errors.append(msg.text))
    pg.on("response", lambda r: r.status >= 400 and pg.console_errors.append(
        f"{r.status} {r.request.method} {r.url}"))
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shot(page, name)`` -> path of a full-page screenshot kept under test-artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)

    def take(pg: Any, name: str) -> Path:
        path = ARTIFACTS / f"{test}-{name}.png"
        pg.screenshot(path=str(path), full_page=True)
        return path

    return take
