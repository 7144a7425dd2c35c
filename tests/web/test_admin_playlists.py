"""Saved playlists in the panel: listed and searchable, never changed from there."""

from __future__ import annotations

from bot.storage.playlists import SavedPlaylistRepo, SavedTrack
from tests.web.conftest import BOTH_DATABASES, Sidecar

USER = 10**15 + 3


@BOTH_DATABASES
async def test_saved_playlists_are_visible_read_only(sidecar: Sidecar) -> None:
    repo = SavedPlaylistRepo(sidecar.sessionmaker)
    tracks = [SavedTrack("Night Drive", "https://music.example/night", 200.0)]
    await repo.save(USER, "Roadtrip", tracks, max_playlists=5, max_tracks=10)
    client = await sidecar.login()
    page = await client.get("/admin/saved-playlist/list")
    assert page.status_code == 200
    assert "Roadtrip" in page.text
    assert str(USER) in page.text
    found = await client.get("/admin/saved-playlist/list", params={"search": "road"})
    assert "Roadtrip" in found.text
    tracks_page = await client.get("/admin/saved-playlist-track/list")
    assert "Night Drive" in tracks_page.text
    assert "https://music.example/night" in tracks_page.text
    for view in ("saved-playlist", "saved-playlist-track"):
        assert (await client.get(f"/admin/{view}/create")).status_code == 403
        assert (await client.get(f"/admin/{view}/edit/1")).status_code == 403
        deleted = await client.request(
            "DELETE", f"/admin/{view}/delete?pks=1", headers=sidecar.origin
        )
        assert deleted.status_code == 403
    assert (await repo.tracks(USER, "roadtrip"))[1] == tracks  # nothing changed
