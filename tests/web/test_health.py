from __future__ import annotations

from tests.web.conftest import Sidecar


async def test_healthz_all_up(sidecar: Sidecar) -> None:
    r = await sidecar.client().get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"bot": True, "storage": True, "engine": True}


async def test_healthz_names_what_is_down(sidecar: Sidecar) -> None:
    sidecar.health["storage"] = False
    sidecar.health["engine"] = False
    r = await sidecar.client().get("/healthz")
    assert r.status_code == 503
    assert r.json() == {
        "bot": True,
        "storage": False,
        "engine": False,
        "down": ["storage", "engine"],
    }


async def test_a_probe_that_raises_counts_as_down(sidecar: Sidecar) -> None:
    async def broken() -> bool:
        raise ConnectionError("polling stopped")

    sidecar.services.health = {**sidecar.services.health, "bot": broken}
    r = await sidecar.client().get("/healthz")
    assert r.status_code == 503
    assert r.json()["down"] == ["bot"]
