from __future__ import annotations

import random
import string
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_format_families

from bot.domain.models import Track
from tests.web.conftest import Sidecar
from web.metrics import KNOWN_METHODS

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


async def scrape(sidecar: Sidecar) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await sidecar.client().get("/metrics", headers={"Accept": OPENMETRICS})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    # strict parser: raises on anything that is not valid OpenMetrics (missing # EOF etc.)
    # (prometheus_client's OpenMetrics parser has no annotations; it yields Metric objects)
    families: Iterable[Metric] = text_string_to_metric_families(r.text)  # type: ignore[no-untyped-call]
    for family in families:
        assert family.name.startswith("sattva_"), family.name
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def test_metrics_parse_strictly_and_are_prefixed(sidecar: Sidecar) -> None:
    samples = await scrape(sidecar)
    names = {name for name, _ in samples}
    for expected in (
        "sattva_active_streams",
        "sattva_tracks_started_total",
        "sattva_process_cpu_seconds_total",
        "sattva_process_resident_memory_bytes",
        "sattva_system_cpu_percent",
        "sattva_system_memory_used_bytes",
        "sattva_disk_used_bytes",
        "sattva_ws_connections",
    ):
        assert expected in names
    assert samples[("sattva_process_resident_memory_bytes", ())] > 1_000_000
    assert samples[("sattva_disk_total_bytes", ())] > 0


async def test_plain_text_format_by_default(sidecar: Sidecar) -> None:
    r = await sidecar.client().get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name for f in text_format_families(r.text)}
    assert "sattva_tracks_started" in families
    assert "# EOF" not in r.text


async def test_metrics_is_a_route_not_a_redirecting_mount(sidecar: Sidecar) -> None:
    r = await sidecar.client().get("/metrics")
    assert r.status_code == 200  # a Mount would answer 307 to /metrics/


async def test_values_move_when_a_track_plays(sidecar: Sidecar) -> None:
    chat = -100900
    before = await scrape(sidecar)
    await sidecar.players.play(chat, Track(title="One", source="1", media="/1.mp3"))
    await sidecar.players.play(chat, Track(title="Two", source="2", media="/2.mp3"))
    await sidecar.engine.set_listeners(chat, 3)
    await sidecar.players.drain()
    playing = await scrape(sidecar)
    started = ("sattva_tracks_started_total", ())
    assert playing[started] == before[started] + 1
    assert playing[("sattva_active_streams", ())] == 1
    assert playing[("sattva_listeners", ())] == 3
    assert playing[("sattva_queued_tracks", ())] == 1

    await sidecar.engine.end(chat)  # "One" finishes, "Two" starts
    await sidecar.players.drain()
    after = await scrape(sidecar)
    finished = ("sattva_tracks_ended_total", (("reason", "finished"),))
    assert after[started] == before[started] + 2
    assert after[finished] == before.get(finished, 0) + 1
    assert after[("sattva_queued_tracks", ())] == 0

    await sidecar.players.stop(chat)
    stopped = await scrape(sidecar)
    assert stopped[("sattva_active_streams", ())] == 0
    assert stopped[("sattva_listeners", ())] == 0


async def test_http_requests_are_counted_by_route_template(sidecar: Sidecar) -> None:
    client = sidecar.client()
    before = await scrape(sidecar)
    await client.get("/admin/chat/list")
    await client.get("/admin/web-admin/list")
    await client.get("/no/such/page")
    await client.get("/healthz")
    await client.get("/admin/statics/css/main.css")
    after = await scrape(sidecar)

    def delta(route: str, status: str) -> float:
        key = (
            "sattva_http_requests_total",
            (("method", "GET"), ("route", route), ("status", status)),
        )
        return after.get(key, 0) - before.get(key, 0)

    assert delta("/admin/{identity}/list", "302") == 2
    assert delta("<unmatched>", "404") == 1
    assert delta("/healthz", "200") == 1
    assert delta("/admin/statics/{path}", "200") == 1
    routes = {dict(labels).get("route") for name, labels in after if "http" in name}
    assert "/admin/chat/list" not in routes
    assert "/no/such/page" not in routes
    latency = (
        "sattva_http_request_seconds_count",
        (("method", "GET"), ("route", "/healthz")),
    )
    assert after[latency] - before.get(latency, 0) == 1


async def test_random_methods_and_paths_add_no_series(sidecar: Sidecar) -> None:
    client = sidecar.client()
    # every route family the requests below can touch, seen once, so only new label values
    # could add series
    for method in ("GET", "POST"):
        for path in ("/healthz", "/nowhere", "/admin/x/list", "/static/x"):
            await client.request(method, path, headers=sidecar.origin)
    await client.request("BREW", "/healthz", headers=sidecar.origin)
    await client.request("BREW", "/nowhere", headers=sidecar.origin)
    await client.request("BREW", "/admin/x/list", headers=sidecar.origin)
    await client.request("BREW", "/static/x", headers=sidecar.origin)
    await scrape(sidecar)  # the /metrics route's own series appear after its first answer
    before = await scrape(sidecar)
    rng = random.Random(9)
    for i in range(500):
        method = "".join(rng.choices(string.ascii_uppercase, k=8))
        path = rng.choice(["/healthz", f"/n{i}", f"/admin/x{i}/list", f"/static/{i}"])
        await client.request(method if i % 2 else "GET", path, headers=sidecar.origin)
    after = await scrape(sidecar)
    http_series = {key for key in after if "http" in key[0]}
    assert http_series - set(before) == set()
    methods = {dict(labels).get("method") for name, labels in after if "http" in name}
    assert methods <= KNOWN_METHODS | {"other"}  # the registry is the process's: other tests


async def test_each_scrape_reports_health_as_healthz_sees_it(sidecar: Sidecar) -> None:
    up = await scrape(sidecar)
    for part in ("bot", "storage", "engine"):
        assert up[("sattva_health", (("part", part),))] == 1
    sidecar.health["storage"] = False
    down = await scrape(sidecar)
    assert down[("sattva_health", (("part", "storage"),))] == 0
    assert down[("sattva_health", (("part", "bot"),))] == 1
