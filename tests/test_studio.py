"""The studio page in Debian's chromium (headless, driven by Playwright) against a real
`sorakit serve` on a tiny model: the plan preview, a job's progress, the video playing, the
plan-box overlay, cancelling. Screenshots at 1280x800 and phone width go to reports/studio/."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from live_server import LONG, LiveServer, save_tiny_model

CHROMIUM = shutil.which("chromium")
SHOTS = Path(__file__).resolve().parent.parent / "reports" / "studio"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (CI installs it: apt-get install chromium)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("studio")
    with LiveServer(save_tiny_model(folder / "model"), folder / "data") as live:
        yield live


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def wait_for(page, script: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(script, timeout=timeout_ms, polling=100)


def test_the_studio_previews_queues_plays_overlays_and_cancels(server, browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server.url)

    # A prompt typed: the planner's boxes appear, and what it cannot place is listed.
    page.fill("#prompt", "a red ball falls and bounces")
    wait_for(page, "document.querySelector('#plan-canvas').dataset.objects === '1'")
    assert "Understood" in page.text_content("#plan-status")
    page.fill("#prompt", "a red ball falls next to a piano")
    wait_for(page, "document.querySelectorAll('#plan-unplaced li').length > 0")
    page.click("#examples button >> nth=0")
    wait_for(page, "document.querySelector('#plan-canvas').dataset.objects === '1'")

    # Submitted: it waits in the queue with a progress bar, then lands in the gallery.
    page.select_option("#size", "16x16")
    page.select_option("#seconds", "1")
    page.fill("#steps", "40")
    page.click("#submit")
    wait_for(page, "document.querySelector('#queue li.job progress') !== null")
    wait_for(page, "document.querySelector('#gallery .card[data-status=completed]') !== null")

    # The newest video is shown and plays; its verdicts are listed.
    wait_for(page, "(() => { const v = document.querySelector('#player');"
                   " return v.readyState >= 2 && v.currentTime > 0.2; })()")  # fmt: skip
    assert page.locator("#verdicts li").count() >= 3
    assert page.locator("#verdicts li[data-verdict=gravity]").count() == 1

    # The overlay follows the toggle.
    assert page.is_hidden("#overlay")
    page.check("#overlay-toggle")
    wait_for(page, "!document.querySelector('#overlay').hidden")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "studio-1280x800.png"))
    page.uncheck("#overlay-toggle")
    wait_for(page, "document.querySelector('#overlay').hidden")

    # A second job, long enough to cancel from the queue while it waits or runs.
    page.evaluate("body => fetch('/v1/videos', {method: 'POST', headers: {'content-type':"
                  " 'application/json'}, body: JSON.stringify(body)})", LONG)  # fmt: skip
    page.locator("#queue li.job button.cancel").first.click(timeout=10_000)
    wait_for(page, "document.querySelector('#queue li.job') === null")
    assert "Cancelled" in page.text_content("#message")

    phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone.goto(server.url)
    phone.fill("#prompt", "two yellow triangles rest on the ground")
    wait_for(phone, "document.querySelector('#plan-canvas').dataset.objects === '2'")
    wait_for(phone, "document.querySelector('#player').readyState >= 2")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide on a 390 px phone"
    phone.screenshot(path=str(SHOTS / "studio-390.png"), full_page=True)
    assert not errors, errors
    print(f"screenshots in {SHOTS}")
