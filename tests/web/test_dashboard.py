from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.domain.events import AutoEndWarning
from bot.domain.models import Track
from tests.web.conftest import ADMIN, PASSWORD, Sidecar

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHAT = -100555

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason="Debian's chromium is not installed (scripts/setup.sh --test installs it)",
    ),
]


async def test_dashboard_shows_a_track_started_after_login(sidecar: Sidecar) -> None:
    from playwright.async_api import async_playwright, expect

    await sidecar.players.play(CHAT, Track(title="Warm-up", source="w", media="/w.mp3"))
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--headless",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 800})
            # not logged in: the dashboard sends the browser to the login form
            await page.goto(f"{sidecar.base}/")
            assert page.url == f"{sidecar.base}/admin/login"
            await page.fill("input[name=username]", ADMIN)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{sidecar.base}/admin/")

            await page.goto(f"{sidecar.base}/")
            await expect(page.locator("#conn")).to_have_text("live")
            await expect(page.locator(f'.chat[data-chat="{CHAT}"] .title')).to_have_text("Warm-up")

            # a track started by the test appears live, through the WebSocket
            song = Track(title="Live Song", source="l", media="/l.mp3", duration=180)
            await sidecar.players.play(-100666, song)
            await sidecar.players.play(-100666, Track(title="Later", source="n", media="/n.mp3"))
            await sidecar.engine.set_listeners(-100666, 2)
            await sidecar.players.drain()
            live = page.locator('.chat[data-chat="-100666"]')
            await expect(live.locator(".title")).to_have_text("Live Song")
            await expect(live.locator(".meta")).to_contain_text("listeners 2 · queued 1")
            await expect(live.locator(".meta")).to_contain_text("/ 3:00")
            await expect(page.locator("#totals")).to_have_text("2 active · 2 listeners · 1 queued")
            # the charts received metrics_update frames
            await expect(page.locator("#cpu-now")).not_to_have_text("")
            # published as the player's auto-end does
            sidecar.services.bus.publish(AutoEndWarning(chat_id=CHAT, seconds_left=45))
            await expect(page.locator("#warnings")).to_contain_text(
                f"Chat {CHAT}: the stream will end automatically in 0:4"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
