from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.domain.events import AutoEndWarning
from bot.domain.models import Track
from bot.sources.cookies import CookieStatus
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


@pytest.fixture
def web_settings() -> dict[str, Any]:
    # the rollup samples twice a second, so the history charts move within the test
    return {"history_sample_seconds": 0.5}


async def test_dashboard_shows_a_track_started_after_login(sidecar: Sidecar) -> None:
    from playwright.async_api import async_playwright, expect

    await sidecar.chat_settings.ensure_chat(CHAT, "Morning Show", "morning_show")
    await sidecar.chat_settings.ensure_chat(-100444, "Listeners' Club")
    # Morning Show is a channel driven from a group: its card says so
    await sidecar.channels.link(
        group_id=-100444,
        group_title="Listeners' Club",
        channel_id=CHAT,
        channel_title="Morning Show",
        linked_by=7,
    )
    await sidecar.players.play(CHAT, Track(title="Warm-up", source="w", media="/w.mp3"))
    rotated = "YouTube says its account cookies are no longer valid"
    aside = CookieStatus("b.txt", False, rotated, 1.0)
    sidecar.services.cookie_files = lambda: [
        {"name": s.name, "usable": s.usable, "reason": s.reason, "since": s.since}
        for s in (CookieStatus("a.txt", True, "", None), aside)
    ]
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
            first = page.locator(f'.chat[data-chat="{CHAT}"]')
            await expect(first.locator(".title")).to_have_text("Warm-up")
            # a cookies file YouTube rejected is shown to the operator (the usable one is not)
            await expect(page.locator("#warnings .cookies")).to_have_text(
                [
                    "yt-dlp cookies b.txt set aside: YouTube says its account cookies are no "
                    "longer valid. Export it again to bring it back."
                ]
            )
            # the chat's title from the chats table, not its id, linked to the public chat
            await expect(first.locator(".name")).to_have_text("Morning Show")
            link = first.locator("a.name")
            await expect(link).to_have_attribute("href", "https://t.me/morning_show")
            await expect(first.locator(".badge.target")).to_have_text(
                "📢 channel · from Listeners' Club"
            )

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
            await expect(live.locator(".name")).to_have_text("chat -100666")  # no chats row
            await expect(live.locator(".badge.target")).to_have_text("group")
            await expect(live.locator("ol.queue li")).to_have_text(["Later✕"])
            await expect(page.locator("#totals")).to_have_text("2 active · 2 listeners · 1 queued")
            # the charts received metrics_update frames
            await expect(page.locator("#cpu-now")).not_to_have_text("")
            # published as the player's auto-end does
            sidecar.services.bus.publish(AutoEndWarning(chat_id=CHAT, seconds_left=45))
            await expect(page.locator("#warnings")).to_contain_text(
                "Morning Show: the stream will end automatically in 0:4"
            )
            # the recent-events list got the track changes, live
            await expect(page.locator("#events")).to_contain_text("now playing “Live Song”")
            await page.select_option("#event-kind", "auto_end_warning")
            await expect(page.locator("#events li")).to_have_count(1)
            await page.select_option("#event-kind", "")

            # Skip: the next track plays, the queue empties, the notice says so
            await live.get_by_role("button", name="Skip").click()
            await expect(page.locator("#notice")).to_have_text("chat -100666: skipped")
            await expect(live.locator(".title")).to_have_text("Later")
            await expect(live.locator("ol.queue")).to_have_count(0)
            # the history charts get their point from the rollup table: the three plays
            # (recounted from the play history) and the two listeners (sampled live)
            await expect(page.locator("#history-sum")).to_have_text("3 plays · 0 failures")
            await expect(page.locator("#live-sum")).to_have_text(
                "peak 2 streams · peak 2 listeners"
            )
            await expect(page.locator("#live-history")).to_have_attribute("data-points", "24")
            # the cluster view: one process, its assistant, the chats it serves
            this_node = page.locator("#cluster .node.this")
            await expect(this_node).to_contain_text("this node")
            await expect(this_node).to_contain_text("2 chats")
            await expect(page.locator("#cluster")).to_contain_text(
                "Chats without an assistant: chat -100666, Morning Show"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            now = await sidecar.store.now_playing(-100666)
            assert now is not None
            assert now.track.title == "Later"

            # phone width: one column, nothing wider than the screen
            await page.set_viewport_size({"width": 390, "height": 844})
            await expect(live.locator(".title")).to_have_text("Later")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390
            await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        finally:
            await browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    assert (ARTIFACTS / "dashboard-phone.png").stat().st_size > 10_000
