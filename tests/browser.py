"""Headless-Chromium checks of a local HTML page: console, network, readiness, drawn charts.

The browser is Debian's `chromium` (installed by `ensure_chromium` when missing), driven by
Playwright without `playwright install`: the report must open offline, so the test must too.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, Playwright, Request, Route
from playwright.sync_api import TimeoutError as PlaywrightTimeout

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium calls Google hosts on start, which would
# show up as requests of the page's context and hide whether the report itself is offline.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
READY_TIMEOUT_S = 30.0
CHART_SELECTOR = "div.chart[data-chart]"
# URL schemes that never leave the page: inline data and object URLs made by the page itself.
LOCAL_SCHEMES = ("data:", "blob:", "about:")

# A drawn chart: at least this share of pixels away from the background, in this many colours.
MIN_INK_SHARE = 0.02
MIN_COLOURS = 3
# Channel difference under which a pixel counts as background (anti-aliased edges of a frame).
INK_TOLERANCE = 24


def ensure_chromium() -> str:
    """Path of Debian's chromium, installing the package with apt-get when it is missing."""
    if CHROMIUM.exists():
        return str(CHROMIUM)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if sudo and shutil.which("sudo") is None:
        pytest.fail(f"{CHROMIUM} is missing and apt-get needs root: "
                    "run `apt-get install chromium` first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    output = ""
    for command in (["apt-get", "update"],
                    ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run([*sudo, *command], env=env, capture_output=True, text=True)
        output += done.stdout + done.stderr
        if done.returncode != 0:
            break
    if not CHROMIUM.exists():
        tail = "\n".join(output.splitlines()[-20:])
        pytest.fail(f"could not install Debian's chromium ({CHROMIUM} missing):\n{tail}")
    return str(CHROMIUM)


def launch(playwright: Playwright) -> Browser:
    """Headless Debian chromium with a fresh, empty profile and no background traffic."""
    return playwright.chromium.launch(executable_path=ensure_chromium(), headless=True,
                                      args=CHROMIUM_ARGS)


@dataclass
class PageCheck:
    """One opened page and everything it did that a self-contained report must not do."""

    page: Page
    url: str
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    ready: bool = False
    failed_charts: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """Everything wrong with the page, one line each; empty when it is clean."""
        lines = [f"console {text}" for text in self.console]
        lines += [f"uncaught {text}" for text in self.page_errors]
        lines += [f"request {url}" for url in self.requests]
        if not self.ready:
            lines.append("page never set document.body.dataset.ready")
        if self.failed_charts:
            lines.append(f"charts failed: {', '.join(self.failed_charts)}")
        return lines

    def charts(self) -> dict[str, Locator]:
        """The chart elements (`div.chart[data-chart=NAME]`) by name, in page order."""
        found = self.page.locator(CHART_SELECTOR)
        return {found.nth(i).get_attribute("data-chart") or f"#{i}": found.nth(i)
                for i in range(found.count())}

    def blank_charts(self) -> dict[str, str]:
        """Chart name -> why its screenshot looks empty, for every chart that did not draw."""
        blank = {}
        for name, chart in self.charts().items():
            box = chart.bounding_box()
            if box is None or box["width"] < 1 or box["height"] < 1:
                blank[name] = "has no size"
                continue
            reason = blank_reason(chart.screenshot(timeout=5_000))
            if reason:
                blank[name] = reason
        return blank


def _record_console(check: PageCheck, message: ConsoleMessage) -> None:
    if message.type in ("error", "warning"):
        check.console.append(f"{message.type}: {message.text}")


def _record_request(check: PageCheck, request: Request) -> None:
    url = request.url
    if url != check.url and not url.startswith(LOCAL_SCHEMES):
        check.requests.append(url)


def _route(check: PageCheck, route: Route) -> None:
    # A second guard: whatever was recorded as a request is also never fetched.
    url = route.request.url
    if url == check.url or url.startswith(LOCAL_SCHEMES):
        route.continue_()
    else:
        route.abort("blockedbyclient")


@contextmanager
def open_page(browser: Browser, path: Path, timeout_s: float = READY_TIMEOUT_S,
              ) -> Iterator[PageCheck]:
    """Open a local HTML file in a fresh context and wait for its ready flag (or the timeout)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    try:
        page = context.new_page()
        check = PageCheck(page, path.resolve().as_uri())
        page.on("console", lambda message: _record_console(check, message))
        page.on("pageerror", lambda error: check.page_errors.append(str(error)))
        context.on("request", lambda request: _record_request(check, request))
        page.on("websocket", lambda socket: check.requests.append(socket.url))
        context.route("**/*", lambda route: _route(check, route))
        page.goto(check.url, wait_until="load")
        try:
            page.wait_for_function("document.body && document.body.dataset.ready === '1'",
                                   timeout=timeout_s * 1000)
            check.ready = True
        except PlaywrightTimeout:
            pass
        failed = page.evaluate("document.body ? document.body.dataset.failed || '' : ''")
        check.failed_charts = [name for name in failed.split(",") if name.strip()]
        yield check
    finally:
        context.close()


def blank_reason(png: bytes) -> str | None:
    """Why a chart screenshot looks empty, or None when it shows a drawing."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = image.width * image.height
    if pixels == 0:
        return "has no pixels"
    colours = image.getcolors(maxcolors=pixels) or []
    background = max(colours)[1]
    ink = sum(count for count, colour in colours
              if max(abs(a - b) for a, b in zip(colour, background, strict=True)) > INK_TOLERANCE)
    share = ink / pixels
    if share < MIN_INK_SHARE:
        return f"{share:.1%} of pixels differ from the background {background} " \
               f"(need {MIN_INK_SHARE:.0%})"
    if len(colours) < MIN_COLOURS:
        return f"{len(colours)} colours (need {MIN_COLOURS})"
    return None
