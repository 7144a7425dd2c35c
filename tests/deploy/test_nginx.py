"""deploy/nginx/sattva.conf: ``nginx -t`` accepts it, and a real nginx on loopback with it,
TLS included, in front of a running bot: login, the monitoring WebSocket, /metrics only
from the allowed network, and a slow client cut off by nginx before it reaches the bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import ssl
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from bot.telegram.webhook import SECRET_HEADER
from tests.deploy.conftest import (
    ADMIN,
    DEPLOY,
    PASSWORD,
    TOKEN,
    WEBHOOK_SECRET,
    Node,
    placed,
    stop,
    tool,
)
from tests.support.procs import free_port, wait_port
from tests.support.tg_objects import UpdateFactory, user

MEMBER = user(31, "Member")
CERT = "/etc/ssl/sattva/fullchain.pem"
KEY = "/etc/ssl/sattva/privkey.pem"


def certificate(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def main_config(folder: Path, site: str) -> Path:
    """An nginx.conf that keeps every file nginx writes inside ``folder``."""
    (folder / "sattva.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    path = folder / "nginx.conf"
    path.write_text(
        f"""{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {folder / "access.log"};
{temp}
    include {folder / "sattva.conf"};
}}
"""
    )
    return path


def test_nginx_t_accepts_the_shipped_file(tmp_path: Path) -> None:
    cert, key = certificate(tmp_path)
    site = placed((DEPLOY / "nginx" / "sattva.conf").read_text(), {CERT: str(cert), KEY: str(key)})
    result = subprocess.run(
        [tool("nginx"), "-t", "-c", str(main_config(tmp_path, site))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def unverified_tls() -> ssl.SSLContext:
    """A client context for nginx's throwaway self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


@dataclass
class Front:
    https: int
    http: int
    folder: Path

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.https}"

    def client(self, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base,
            verify=False,
            follow_redirects=False,
            timeout=20,
            transport=transport,
        )


@contextlib.asynccontextmanager
async def nginx_before(node: Node, tmp_path: Path) -> AsyncIterator[Front]:
    folder = tmp_path / "nginx"
    folder.mkdir()
    cert, key = certificate(folder)
    https, http = free_port(), free_port()
    site = placed(
        (DEPLOY / "nginx" / "sattva.conf").read_text(),
        {
            "    listen [::]:80;\n": "",
            "    listen [::]:443 ssl http2;\n": "",
            "listen 80;": f"listen 127.0.0.1:{http};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https} ssl http2;",
            CERT: str(cert),
            KEY: str(key),
            "server 127.0.0.1:8080 ": f"server 127.0.0.1:{node.port} ",
        },
    )
    proc = await asyncio.create_subprocess_exec(
        tool("nginx"), "-c", str(main_config(folder, site)), stderr=subprocess.PIPE
    )
    try:
        await asyncio.to_thread(wait_port, https, 15)
        yield Front(https, http, folder)
    finally:
        await stop(proc)


@pytest.fixture
async def front(node: Node, tmp_path: Path) -> AsyncIterator[Front]:
    async with nginx_before(node, tmp_path) as running:
        yield running


async def test_webhook_delivery_through_nginx(webhook_node: Node, tmp_path: Path) -> None:
    api = webhook_node.api
    group = -1001700000009
    update = {"update_id": api.next_id(), **UpdateFactory(api).message(group, MEMBER, "/queue")}
    async with nginx_before(webhook_node, tmp_path) as front, front.client() as client:
        refused = await client.post("/telegram/webhook", json=update)
        assert refused.status_code == 401
        wrong = await client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: "not-the-secret"}
        )
        assert wrong.status_code == 403
        only_post = await client.get("/telegram/webhook", headers={SECRET_HEADER: WEBHOOK_SECRET})
        assert only_post.status_code == 403  # nginx: limit_except POST
        mark = api.mark()
        taken = await client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        )
        assert taken.status_code == 200
        await api.wait_text(group, None, timeout=20, after=mark)
        # Telegram redelivers an update whose answer it missed: handled once
        again = await client.post(
            "/telegram/webhook", json=update, headers={SECRET_HEADER: WEBHOOK_SECRET}
        )
        assert again.status_code == 200
        await asyncio.sleep(2)
        assert len(api.calls_of("sendMessage", group)) == 1
        # no getUpdates is expected in webhook mode, so "polling stalled" must not fire
        metrics = (await client.get("/metrics")).text
        assert "\nsattva_polling 0.0\n" in metrics


async def test_login_and_panel_through_nginx(front: Front) -> None:
    async with front.client() as client:
        r = await client.post(
            "/admin/login",
            data={"username": ADMIN, "password": PASSWORD},
            headers={"Origin": front.base},
        )
        assert r.status_code == 302, r.text
        assert r.headers["location"] == f"{front.base}/admin/"
        panel = await client.get("/admin/chat/list")
        assert panel.status_code == 200
        # a forged Origin is still refused behind the proxy
        forged = await client.post("/admin/logout", headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
    async with httpx.AsyncClient(timeout=10) as plain:
        r = await plain.get(f"http://127.0.0.1:{front.http}/admin/")
        assert r.status_code == 301
        assert r.headers["location"].startswith("https://127.0.0.1/")


async def test_monitoring_websocket_through_nginx(front: Front) -> None:
    context = unverified_tls()
    url = f"wss://127.0.0.1:{front.https}/ws/monitoring?token={TOKEN}&events=metrics_update"
    async with connect(url, ssl=context, open_timeout=20) as ws:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
        assert frame["event"] == "metrics_update"
        await ws.send("ping")
        while (answer := await asyncio.wait_for(ws.recv(), 20)) != "pong":
            assert json.loads(answer)["event"] == "metrics_update"


async def test_metrics_only_from_the_allowed_network(front: Front) -> None:
    async with front.client() as client:
        allowed = await client.get("/metrics")
    assert allowed.status_code == 200
    assert "sattva_active_streams" in allowed.text
    # 127.0.0.2 is loopback too, but not in the file's allow list
    outside = httpx.AsyncHTTPTransport(local_address="127.0.0.2", verify=False)
    async with front.client(transport=outside) as client:
        refused = await client.get("/metrics")
        healthz = await client.get("/healthz")
    assert refused.status_code == 403
    assert healthz.status_code == 200


async def test_slow_client_is_cut_off_by_nginx(front: Front, node: Node) -> None:
    context = unverified_tls()
    reader, writer = await asyncio.open_connection("127.0.0.1", front.https, ssl=context)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    await writer.drain()
    # meanwhile everyone else is served
    async with front.client() as client:
        assert (await client.get("/healthz")).status_code == 200
    closed = await asyncio.wait_for(reader.read(), 30)
    waited = time.monotonic() - started
    writer.close()
    assert closed == b""  # nginx closes without an answer (it logs 408)
    assert 9 <= waited <= 20, waited  # client_header_timeout 10s
    log = (front.folder / "error.log").read_text()
    assert "client timed out" in log
