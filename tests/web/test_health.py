from __future__ import annotations

from bot.domain.queue import QueueStore
from bot.storage.database import create_engine
from bot.storage.db_queue import DatabaseQueueStore
from tests.web.conftest import Sidecar
from web.health import standard_probes


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


async def test_standard_probes_over_the_real_parts(sidecar: Sidecar) -> None:
    polling = {"ok": True}

    async def bot_polling() -> bool:
        return polling["ok"]

    def install(store: QueueStore) -> None:
        sidecar.services.health = standard_probes(
            bot_polling=bot_polling,
            store=store,
            sessionmaker=sidecar.sessionmaker,
            engine=sidecar.engine,
        )

    client = sidecar.client()
    install(sidecar.store)
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"bot": True, "storage": True, "engine": True})

    polling["ok"] = False
    await sidecar.engine.close()
    r = await client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["down"] == ["bot", "engine"]

    # a queue store whose database does not answer (nothing listens on port 1)
    gone = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        polling["ok"] = True
        await sidecar.engine.start()
        install(DatabaseQueueStore(gone))
        r = await client.get("/healthz")
        assert r.status_code == 503
        assert r.json() == {"bot": True, "storage": False, "engine": True, "down": ["storage"]}
    finally:
        await gone.dispose()
