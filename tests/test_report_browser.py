"""report.html opens offline in headless Chromium and its charts draw (issue 7).

The harness tests run on stand-in pages built from splink's bundled Vega; the negative ones
prove it catches a network request, a console error, a page that never gets ready and a blank
chart. `test_demo_report_renders_offline` is the acceptance test on a real demo report.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, sync_playwright
from splink.internals.html_utils import load_chart_libraries

from migralink.demo import run_demo
from tests.browser import PageCheck, blank_reason, launch, open_page

MIN_DEMO_CHARTS = 6


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def bar_spec(title: str) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": 240, "height": 140,
        "data": {"values": [{"k": k, "n": n} for k, n in zip("abcd", (3, 7, 2, 5), strict=True)]},
        "mark": "bar",
        "encoding": {"x": {"field": "k", "type": "nominal"},
                     "y": {"field": "n", "type": "quantitative"}},
    }


def stand_in_page(directory: Path, *, head: str = "", script: str = "",
                  draw: tuple[str, ...] = ("first", "second"),
                  extra_divs: tuple[str, ...] = (), ready: bool = True) -> Path:
    """A page that follows the report's contract: vega inlined, charts in div.chart, ready flag."""
    libraries = "\n".join(f"<script>{js}</script>" for js in load_chart_libraries().values())
    divs = "".join(f'<div class="chart" data-chart="{name}"></div>'
                   for name in (*draw, *extra_divs))
    specs = json.dumps({name: bar_spec(name) for name in draw})
    flag = "document.body.dataset.ready = '1';" if ready else ""
    path = directory / "page.html"
    path.write_text(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<link rel="icon" href="data:,">{head}{libraries}</head><body>{divs}
<script>
const specs = {specs};
const failed = [];
Promise.all(Object.entries(specs).map(([name, spec]) =>
  vegaEmbed(document.querySelector(`div.chart[data-chart="${{name}}"]`), spec, {{actions: false}})
    .catch(() => failed.push(name))
)).then(() => {{
  if (failed.length) document.body.dataset.failed = failed.join(",");
  {flag}
}});
{script}
</script></body></html>""", encoding="utf-8")
    return path


def png(draw: bool) -> bytes:
    image = Image.new("RGB", (200, 120), "white")
    if draw:
        pen = ImageDraw.Draw(image)
        pen.line([(10, 110), (190, 110)], fill="black", width=1)
        for i, height in enumerate((40, 80, 60)):
            pen.rectangle([20 + 50 * i, 110 - height, 50 + 50 * i, 110], fill=(76, 120, 168))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_blank_screenshot_is_blank() -> None:
    assert blank_reason(png(draw=False)) is not None


def test_drawn_screenshot_is_not_blank() -> None:
    assert blank_reason(png(draw=True)) is None


def test_few_stray_pixels_are_blank() -> None:
    image = Image.new("RGB", (200, 120), "white")
    ImageDraw.Draw(image).rectangle([0, 0, 199, 119], outline="grey")  # a frame, no drawing
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    assert blank_reason(buffer.getvalue()) is not None


def test_stand_in_page_is_clean(browser: Browser, tmp_path: Path) -> None:
    with open_page(browser, stand_in_page(tmp_path)) as check:
        assert check.problems() == []
        assert list(check.charts()) == ["first", "second"]
        assert check.blank_charts() == {}


def test_network_request_is_caught(browser: Browser, tmp_path: Path) -> None:
    cdn = '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
    with open_page(browser, stand_in_page(tmp_path, head=cdn)) as check:
        assert check.requests == ["https://cdn.jsdelivr.net/npm/vega@5"]


def test_fetch_and_image_requests_are_caught(browser: Browser, tmp_path: Path) -> None:
    script = "fetch('http://example.org/data.json').catch(() => {});" \
             "new Image().src = 'https://example.org/pixel.png';"
    with open_page(browser, stand_in_page(tmp_path, script=script)) as check:
        assert sorted(check.requests) == ["http://example.org/data.json",
                                          "https://example.org/pixel.png"]


def test_local_file_reference_is_caught(browser: Browser, tmp_path: Path) -> None:
    (tmp_path / "vega.js").write_text("", encoding="utf-8")
    page = stand_in_page(tmp_path, head='<script src="vega.js"></script>')
    with open_page(browser, page) as check:
        assert check.requests == [(tmp_path / "vega.js").as_uri()]


def test_console_error_is_caught(browser: Browser, tmp_path: Path) -> None:
    with open_page(browser, stand_in_page(tmp_path, script='console.error("x");')) as check:
        assert check.console == ["error: x"]


def test_uncaught_exception_is_caught(browser: Browser, tmp_path: Path) -> None:
    script = "setTimeout(() => { throw new Error('boom'); });"
    with open_page(browser, stand_in_page(tmp_path, script=script)) as check:
        check.page.wait_for_timeout(100)
        assert any("boom" in error for error in check.page_errors)


def test_page_never_ready_is_caught(browser: Browser, tmp_path: Path) -> None:
    with open_page(browser, stand_in_page(tmp_path, ready=False), timeout_s=1) as check:
        assert check.problems() == ["page never set document.body.dataset.ready"]


def test_failed_chart_flag_is_caught(browser: Browser, tmp_path: Path) -> None:
    script = "document.body.dataset.failed = 'second';"
    with open_page(browser, stand_in_page(tmp_path, script=script)) as check:
        assert check.problems() == ["charts failed: second"]


def test_empty_chart_is_caught(browser: Browser, tmp_path: Path) -> None:
    style = "<style>div.chart { width: 300px; height: 200px; }</style>"
    page = stand_in_page(tmp_path, head=style, draw=("first",), extra_divs=("empty",))
    with open_page(browser, page) as check:
        assert list(check.blank_charts()) == ["empty"]


def test_collapsed_chart_is_caught(browser: Browser, tmp_path: Path) -> None:
    page = stand_in_page(tmp_path, draw=("first",), extra_divs=("collapsed",))
    with open_page(browser, page) as check:
        assert check.blank_charts() == {"collapsed": "has no size"}


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_demo(tmp_path_factory.mktemp("report"), persons=1500, seed=7)
    return result.config.outputs_dir / "report.html"


def describe(check: PageCheck) -> str:
    return "\n".join(check.problems())


def test_demo_report_renders_offline(browser: Browser, demo_report: Path,
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    with open_page(browser, demo_report) as check:
        screenshot = tmp_path_factory.mktemp("screenshots") / "report.png"
        check.page.screenshot(path=screenshot, full_page=True)
        assert check.console == [] and check.page_errors == [], describe(check)
        assert check.requests == [], describe(check)
        assert check.ready and check.failed_charts == [], describe(check)
        charts = check.charts()
        assert len(charts) >= MIN_DEMO_CHARTS, \
            f"{len(charts)} charts in {demo_report}: {list(charts)}; screenshot {screenshot}"
        assert check.blank_charts() == {}, f"screenshot {screenshot}"
