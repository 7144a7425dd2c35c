"""The dashboard's data (/api/state) and its playback commands, over a real uvicorn."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select

from bot.domain.control import ChatSnapshot, Players
from bot.domain.events import AssistantMoved, TrackChange
from bot.domain.manager import PlayerManager
from bot.domain.models import Track
from bot.sources.cookies import CookieJars
from bot.storage.orm import AuditLog, ChatAssistant, HourlyStats, PlayHistory
from tests.web.conftest import BOTH_DATABASES, Sidecar
from web.history import HistoryRollup

CHAT = -100777


async def audit_rows(sidecar: Sidecar) -> list[AuditLog]:
    async with sidecar.sessionmaker() as session:
        return list((await session.scalars(select(AuditLog).order_by(AuditLog.id))).all())


async def queue_of(sidecar: Sidecar, titles: list[str]) -> list[Track]:
    tracks = [Track(title=t, source=t, media=f"/{i}.mp3") for i, t in enumerate(titles)]
    for track in tracks:
        await sidecar.players.play(CHAT, track)
    await sidecar.players.drain()
    return tracks


async def test_state_shows_the_chat_title_queue_and_placement(sidecar: Sidecar) -> None:
    await sidecar.chat_settings.ensure_chat(CHAT, "Night Radio")
    await queue_of(sidecar, [f"Song {n}" for n in range(8)])
    sidecar.services.bus.publish(AssistantMoved(chat_id=CHAT, code="x", source="a1", target="a2"))
    sidecar.services.bus.publish(
        TrackChange(
            chat_id=CHAT,
            track=Track(title="Song 0", source="Song 0", media="/0.mp3"),
            reason="play",
            position=0.0,
            placement={"assistant": "a2", "node": "n1"},
        )
    )
    client = await sidecar.login()
    for _ in range(100):  # the hub reads the bus in its own task
        body = (await client.get("/api/state")).json()
        if any(e["event"] == "system_alert" for e in body["events"]):
            break
    (chat,) = body["chats"]
    assert chat["chat_title"] == "Night Radio"
    assert chat["title"] == "Song 0"
    assert chat["track"]["kind"] == "audio"
    assert chat["queued"] == 7
    assert [t["title"] for t in chat["next"]] == [f"Song {n}" for n in range(1, 6)]
    assert chat["placement"] == {"assistant": "a2", "node": "n1"}
    assert chat["errors"] == 1
    assert body["engine"] == "local"
    alert = next(e for e in body["events"] if e["event"] == "system_alert")
    assert alert["problem"] is True
    assert alert["chat_id"] == CHAT
    assert "metrics_update" not in {e["event"] for e in body["events"]}
    assert body["ytdlp_cookies"] == []


async def test_state_lists_the_cookie_files_and_those_set_aside(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    """What the bot's CookieJars report reaches the dashboard as it is."""
    folder = tmp_path / "cookies"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(
            "# Netscape HTTP Cookie File\n.youtube.com\tTRUE\t/\tTRUE\t0\tSID\tx\n"
        )
    jars = CookieJars(str(folder))
    jars.reject(folder / "b.txt", "YouTube says its account cookies are no longer valid")
    sidecar.services.cookie_files = jars.report
    body = (await (await sidecar.login()).get("/api/state")).json()
    assert [(c["name"], c["usable"], c["reason"]) for c in body["ytdlp_cookies"]] == [
        ("a.txt", True, ""),
        ("b.txt", False, "YouTube says its account cookies are no longer valid"),
    ]


async def test_actions_are_refused_without_a_session(sidecar: Sidecar) -> None:
    await queue_of(sidecar, ["One", "Two"])
    client = sidecar.client()
    r = await client.post(f"/api/chats/{CHAT}/skip", headers=sidecar.origin)
    assert r.status_code == 401
    assert (await sidecar.store.now_playing(CHAT)).track.title == "One"  # type: ignore[union-attr]
    assert await audit_rows(sidecar) == []


async def test_a_forged_origin_is_refused_and_nothing_changes(sidecar: Sidecar) -> None:
    await queue_of(sidecar, ["One", "Two"])
    client = await sidecar.login()
    for headers in ({"Origin": "http://evil.example"}, {}):
        r = await client.post(f"/api/chats/{CHAT}/skip", headers=headers)
        assert r.status_code == 403
        r = await client.post(f"/api/chats/{CHAT}/stop", headers=headers)
        assert r.status_code == 403
    assert (await sidecar.store.now_playing(CHAT)).track.title == "One"  # type: ignore[union-attr]
    assert [t.title for t in await sidecar.store.pending(CHAT)] == ["Two"]
    assert await audit_rows(sidecar) == []
    # GET is not an action
    assert (await client.get(f"/api/chats/{CHAT}/skip")).status_code == 405


@BOTH_DATABASES
async def test_an_admins_skip_advances_the_queue_and_is_audited(sidecar: Sidecar) -> None:
    await queue_of(sidecar, ["One", "Two", "Three"])
    client = await sidecar.login()
    r = await client.post(f"/api/chats/{CHAT}/skip", headers=sidecar.origin)
    assert r.status_code == 200, r.text
    assert r.json() == {"message": f"chat {CHAT}: skipped", "now": "Two"}
    assert (await sidecar.store.now_playing(CHAT)).track.title == "Two"  # type: ignore[union-attr]
    (row,) = await audit_rows(sidecar)
    assert (row.actor, row.action, row.entity, row.entity_id) == (
        "web:alice",
        "queue.skip",
        "queue",
        str(CHAT),
    )
    assert json.loads(row.before) == {"state": "playing", "now": "One", "pending": 2}
    assert json.loads(row.after) == {"now": "Two"}


async def test_pause_resume_remove_and_stop(sidecar: Sidecar) -> None:
    tracks = await queue_of(sidecar, ["One", "Two", "Three"])
    client = await sidecar.login()

    async def post(action: str, **form: str) -> tuple[int, dict[str, str]]:
        r = await client.post(f"/api/chats/{CHAT}/{action}", data=form, headers=sidecar.origin)
        return r.status_code, r.json()

    assert (await post("pause"))[0] == 200
    assert (await sidecar.store.now_playing(CHAT)).paused  # type: ignore[union-attr]
    assert await post("pause") == (409, {"error": f"chat {CHAT}: nothing is playing"})
    assert (await post("resume"))[0] == 200
    assert not (await sidecar.store.now_playing(CHAT)).paused  # type: ignore[union-attr]

    # by track id: "Three" goes, "Two" stays, whatever its position
    status, body = await post("remove", track_id=tracks[2].id)
    assert (status, body["removed"]) == (200, "Three")
    assert [t.title for t in await sidecar.store.pending(CHAT)] == ["Two"]
    status, body = await post("remove", track_id=tracks[2].id)
    assert (status, body) == (409, {"error": f"chat {CHAT}: that track is no longer queued"})

    assert (await post("stop"))[0] == 200
    assert await sidecar.store.now_playing(CHAT) is None
    assert await sidecar.store.pending(CHAT) == []
    actions = [row.action for row in await audit_rows(sidecar)]
    assert actions == ["queue.pause", "queue.resume", "queue.remove", "queue.stop"]

    assert (await post("reboot"))[0] == 404
    r = await client.post("/api/chats/general/skip", headers=sidecar.origin)
    assert r.status_code == 400


class SkipsDuringSnapshot:
    """The players, except that reading a snapshot lets a skip land right after it: the
    queue moves between what the page (or the action) saw and the removal."""

    def __init__(self, players: PlayerManager) -> None:
        self._players = players

    def __getattr__(self, name: str) -> Any:
        return getattr(self._players, name)

    async def snapshot(self, chat_id: int) -> ChatSnapshot:
        snap = await self._players.snapshot(chat_id)
        await self._players.skip(chat_id)
        return snap


@BOTH_DATABASES
async def test_remove_takes_the_named_track_even_when_the_queue_moves_meanwhile(
    sidecar: Sidecar,
) -> None:
    _, two, three, four = await queue_of(sidecar, ["One", "Two", "Three", "Four"])
    client = await sidecar.login()
    sidecar.services.players = cast(Players, SkipsDuringSnapshot(sidecar.players))
    r = await client.post(
        f"/api/chats/{CHAT}/remove", data={"track_id": three.id}, headers=sidecar.origin
    )
    assert r.status_code == 200, r.text
    assert r.json()["removed"] == "Three"
    # "Two" started meanwhile; "Four", which slid into the position "Three" had, stays
    assert (await sidecar.store.now_playing(CHAT)).track == two  # type: ignore[union-attr]
    assert await sidecar.store.pending(CHAT) == [four]
    # again: this time the skip starts "Four" itself, which is then no queued track to remove
    r = await client.post(
        f"/api/chats/{CHAT}/remove", data={"track_id": four.id}, headers=sidecar.origin
    )
    assert (r.status_code, r.json()) == (
        409,
        {"error": f"chat {CHAT}: that track is no longer queued"},
    )
    assert (await sidecar.store.now_playing(CHAT)).track == four  # type: ignore[union-attr]
    assert [row.action for row in await audit_rows(sidecar)] == ["queue.remove"]


@BOTH_DATABASES
async def test_history_comes_from_the_rollup_of_play_history_and_live_figures(
    sidecar: Sidecar,
) -> None:
    # times within the hour the test runs in, whatever the minute (a test started at
    # 19:00:30 must not put "a minute ago" in the hour before)
    this_hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # the app's own rollup (its first round at start) is stopped: under load that round
    # came after the rows below and rolled them up before the "nothing yet" check
    await sidecar.server.app.state.rollup.stop()
    rows = [  # (hours before this one it started, chat, end reason, seconds it played)
        (0, CHAT, "finished", 1),
        (0, -1002, None, None),
        (3, CHAT, "skipped", 1),
        (30, CHAT, "finished", 1),  # only in the 7-day range
        (200, CHAT, "finished", 1),  # in neither
        # started 5 hours ago, failed in this hour: a failure of this hour
        (5, CHAT, "error", 5 * 3600),
    ]
    async with sidecar.sessionmaker() as session:
        for ago, chat_id, reason, played in rows:
            started = this_hour - timedelta(hours=ago)
            session.add(
                PlayHistory(
                    chat_id=chat_id,
                    track_id=f"t{ago}{chat_id}{reason}",
                    title="x",
                    source="x",
                    kind="url",
                    started_at=started,
                    ended_at=None if played is None else started + timedelta(seconds=played),
                    end_reason=reason,
                )
            )
        await session.commit()
    client = await sidecar.login()
    # nothing yet: the page shows the rollup table, not the play history directly
    day = (await client.get("/api/history?range=24h")).json()
    assert sum(p["plays"] for p in day["points"]) == 0
    # a live stream with two listeners, then one round of the rollup (a fresh one: its
    # first round counts the whole kept span, as after a restart)
    await sidecar.players.play(CHAT, Track(title="On air", source="a", media="/a.mp3"))
    await sidecar.engine.set_listeners(CHAT, 2)
    await sidecar.players.drain()
    await HistoryRollup(sidecar.services).tick()
    day = (await client.get("/api/history?range=24h")).json()
    assert day["range"] == "24h"
    points = day["points"]
    assert len(points) == 24
    last = {k: points[-1][k] for k in ("plays", "failures", "chats", "streams", "listeners")}
    # "On air" started now (the player wrote its row): 3 plays in two chats
    assert last == {"plays": 3, "failures": 1, "chats": 2, "streams": 1, "listeners": 2}
    assert points[-1]["nodes"] == 1
    assert points[-4]["plays"] == 1
    assert points[-6]["plays"] == 1  # the failed track's start
    assert sum(p["plays"] for p in points) == 5
    week = (await client.get("/api/history?range=7d")).json()["points"]
    assert len(week) == 7 * 24
    assert sum(p["plays"] for p in week) == 6
    assert (await client.get("/api/history?range=1y")).status_code == 400
    assert (await sidecar.client().get("/api/history")).status_code == 401


async def test_an_idle_bots_rollup_writes_nothing(sidecar: Sidecar) -> None:
    rollup = HistoryRollup(sidecar.services)
    for _ in range(3):
        await rollup.tick()
    async with sidecar.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(HourlyStats)) == 0


async def test_state_links_a_public_chat_and_not_a_private_one(sidecar: Sidecar) -> None:
    await sidecar.chat_settings.ensure_chat(CHAT, "Night Radio", "night_radio")
    await sidecar.chat_settings.ensure_chat(-100888, "Family")
    await queue_of(sidecar, ["One"])
    await sidecar.players.play(-100888, Track(title="Two", source="t", media="/t.mp3"))
    client = await sidecar.login()
    chats = {c["chat_id"]: c for c in (await client.get("/api/state")).json()["chats"]}
    assert chats[CHAT]["chat_link"] == "https://t.me/night_radio"
    assert chats[-100888]["chat_link"] is None
    assert chats[-100888]["chat_title"] == "Family"


async def test_state_says_whether_a_stream_goes_to_a_channel_and_from_which_group(
    sidecar: Sidecar,
) -> None:
    await sidecar.chat_settings.ensure_chat(-100888, "Family")
    await sidecar.channels.link(
        group_id=-100888,
        group_title="Family",
        channel_id=CHAT,
        channel_title="Night Radio",
        linked_by=7,
    )
    await sidecar.channels.remember(-100555, "Announcements")  # a channel nobody links
    await queue_of(sidecar, ["One"])
    for chat in (-100888, -100555):
        await sidecar.players.play(chat, Track(title="Two", source="t", media="/t.mp3"))
    client = await sidecar.login()
    chats = {c["chat_id"]: c for c in (await client.get("/api/state")).json()["chats"]}
    assert chats[CHAT]["target"] == {
        "kind": "channel",
        "group_id": -100888,
        "group_title": "Family",
    }
    assert chats[-100555]["target"] == {"kind": "channel", "group_id": None, "group_title": None}
    assert chats[-100888]["target"] == {"kind": "group"}


async def test_cluster_view_of_one_process(sidecar: Sidecar) -> None:
    await queue_of(sidecar, ["One", "Two"])
    async with sidecar.sessionmaker() as session:
        session.add(ChatAssistant(chat_id=CHAT, assistant="main"))
        await session.commit()
    await sidecar.players.play(-100999, Track(title="Solo", source="s", media="/s.mp3"))
    client = await sidecar.login()
    body = (await client.get("/api/cluster")).json()
    node = sidecar.services.settings.node_id()
    assert body["mode"] == "single"
    assert body["nodes"] == [
        {
            "node": node,
            "expires_in": None,
            "this": True,
            "assistants": ["main"],
            "chats": 2,
            "poller": None,
        }
    ]
    assert body["assistants"] == [
        {
            "name": "main",
            "node": node,
            "token": None,
            "lease_expires_in": None,
            "lease_held_for": None,
            "chats": [CHAT],
        }
    ]
    assert body["unassigned_chats"] == [-100999]
    assert body["chats_total"] == 2
    assert (await sidecar.client().get("/api/cluster")).status_code == 401
