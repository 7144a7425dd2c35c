"""deploy/prometheus and deploy/grafana: promtool accepts the config and the rules and
passes the rules' unit tests; a real Prometheus scrapes a running bot; every sattva_ series
the alerts and the dashboard query is one the bot exports."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import DEPLOY, Node, placed, stop, tool
from tests.support.procs import free_port, wait_port

RULES = "/etc/prometheus/sattva-alerts.yml"
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def promtool(*args: str, cwd: Path = DEPLOY / "prometheus") -> str:
    result = subprocess.run(
        [tool("promtool"), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_checks_the_rules_and_runs_their_unit_tests() -> None:
    assert "SUCCESS: 9 rules found" in promtool("check", "rules", "alerts.yml")
    assert "SUCCESS" in promtool("test", "rules", "alerts_test.yml")


def test_rule_unit_tests_fail_on_a_broken_rule(tmp_path: Path) -> None:
    """The unit tests above would notice an alert that no longer fires."""
    shipped = DEPLOY / "prometheus"
    (tmp_path / "alerts_test.yml").write_text((shipped / "alerts_test.yml").read_text())
    broken = placed((shipped / "alerts.yml").read_text(), {'reason="error"': 'reason="failed"'})
    (tmp_path / "alerts.yml").write_text(broken)
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SattvaStreamFailures" in result.stdout + result.stderr


def test_promtool_checks_the_scrape_config(tmp_path: Path) -> None:
    (tmp_path / "alerts.yml").write_text((DEPLOY / "prometheus" / "alerts.yml").read_text())
    config = placed(
        (DEPLOY / "prometheus" / "prometheus.yml").read_text(),
        {RULES: str(tmp_path / "alerts.yml")},
    )
    (tmp_path / "prometheus.yml").write_text(config)
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def queried_names() -> Iterator[tuple[str, str]]:
    """(file, metric name) for every sattva_ name in an alert or a dashboard query."""
    for rule in re.findall(r"expr: (.*?)\n\s+(?:for|labels):", _alerts(), re.S):
        for name in re.findall(r"\bsattva_\w+", rule):
            yield "alerts.yml", name
    dashboard = json.loads((DEPLOY / "grafana" / "sattva.json").read_text())
    for expr in _exprs(dashboard):
        for name in re.findall(r"\bsattva_\w+", expr):
            yield "sattva.json", name


def _alerts() -> str:
    return (DEPLOY / "prometheus" / "alerts.yml").read_text()


def _exprs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from _exprs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item)


def family(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_the_dashboard_is_an_importable_grafana_dashboard() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "sattva.json").read_text())
    assert dashboard["uid"] == "sattva"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and p["datasource"]["uid"] == "${datasource}" for p in panels)
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("streams", "listeners", "plays", "latency", "429", "websocket", "nodes"):
        assert topic in titles, topic


async def test_prometheus_scrapes_the_bot_and_every_queried_name_exists(
    node: Node, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{node.port}/metrics")).text
    exported = {f.name for f in text_string_to_metric_families(text)}
    missing = {(where, name) for where, name in queried_names() if family(name) not in exported}
    assert not missing, f"queried but not exported: {sorted(missing)}"

    (tmp_path / "alerts.yml").write_text(_alerts())
    config = placed(
        (DEPLOY / "prometheus" / "prometheus.yml").read_text(),
        {
            RULES: str(tmp_path / "alerts.yml"),
            "scrape_interval: 15s": "scrape_interval: 1s",
            "- 127.0.0.1:8080": f"- 127.0.0.1:{node.port}",
        },
    )
    (tmp_path / "prometheus.yml").write_text(config)
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        tool("prometheus"),
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        await asyncio.to_thread(wait_port, port, 30)
        found = await _query_until(port, 'sattva_health{part="storage"}', timeout=45)
        assert found["metric"]["job"] == "sattva"
        assert found["value"][1] == "1"
        polling = await _query_until(port, "sattva_polling", timeout=15)
        assert polling["value"][1] == "1"
    finally:
        await stop(proc)
        log.close()


class Sample(TypedDict):
    """One series of an instant query's ``data.result``."""

    metric: dict[str, str]
    value: list[float | str]  # [unix time, value as text]


async def _query_until(port: int, query: str, timeout: float) -> Sample:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            r = await client.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query})
            result = r.json()["data"]["result"] if r.status_code == 200 else []
            if result:
                found: Sample = result[0]
                return found
            assert asyncio.get_running_loop().time() < deadline, f"no result for {query}"
            await asyncio.sleep(0.5)
