"""The URL guard against a corpus of SSRF tricks; DNS answers are simulated at the guard's
one resolver seam, so no test depends on real DNS."""

from __future__ import annotations

import ipaddress

import pytest

from bot.sources import guard
from bot.sources.base import SourceError
from bot.sources.guard import check_url, is_public, literal_address
from tests.support.ssrf_corpus import PRIVATE_URLS, UNSUPPORTED


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Host -> addresses; a host not listed fails to resolve.  Records every lookup."""
    table: dict[str, list[str]] = {}

    async def fake_resolve(host: str, port: int) -> list[str]:
        table.setdefault("__asked__", []).append(host)
        if host not in table:
            raise OSError("no such host")
        return table[host]

    monkeypatch.setattr(guard, "resolve_host", fake_resolve)
    return table


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_literals_refused(url: str, dns: dict[str, list[str]]) -> None:
    with pytest.raises(SourceError) as err:
        await check_url(url, allow_private=False)
    assert err.value.code == "private_network"
    assert "__asked__" not in dns  # literals never go to DNS


@pytest.mark.parametrize("url", UNSUPPORTED)
async def test_unsupported_refused(url: str, dns: dict[str, list[str]]) -> None:
    with pytest.raises(SourceError) as err:
        await check_url(url, allow_private=False)
    assert err.value.code == "unsupported"
    assert "__asked__" not in dns


async def test_dns_name_resolving_private_refused(dns: dict[str, list[str]]) -> None:
    dns["internal.example.com"] = ["93.184.216.34", "10.0.0.7"]  # one bad address is enough
    with pytest.raises(SourceError) as err:
        await check_url("https://internal.example.com/a.mp3", allow_private=False)
    assert err.value.code == "private_network"
    assert dns["__asked__"] == ["internal.example.com"]


async def test_dns_name_resolving_mapped_loopback_refused(dns: dict[str, list[str]]) -> None:
    dns["sneaky.example.com"] = ["::ffff:127.0.0.1"]
    with pytest.raises(SourceError) as err:
        await check_url("http://sneaky.example.com/", allow_private=False)
    assert err.value.code == "private_network"


async def test_public_name_passes_with_pinned_addresses(dns: dict[str, list[str]]) -> None:
    dns["cdn.example.com"] = ["93.184.216.34", "2606:2800:220:1::248"]
    checked = await check_url("HTTPS://cdn.example.com:8443/a%20b.mp3?x=1", allow_private=False)
    assert checked.scheme == "https"
    assert checked.host == "cdn.example.com"
    assert checked.port == 8443
    assert checked.addresses == ("93.184.216.34", "2606:2800:220:1::248")


async def test_unresolvable_is_unreachable(dns: dict[str, list[str]]) -> None:
    with pytest.raises(SourceError) as err:
        await check_url("http://nowhere.invalid/a.mp3", allow_private=False)
    assert err.value.code == "unreachable"


async def test_private_allowed_when_configured(dns: dict[str, list[str]]) -> None:
    checked = await check_url("http://2130706433:8000/a.mp3", allow_private=True)
    assert checked.addresses == ("127.0.0.1",)
    assert checked.port == 8000


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("134744072", "8.8.8.8"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("deadbeef.com", None),
    ],
)
def test_literal_spellings(host: str, expected: str | None) -> None:
    result = literal_address(host)
    assert (str(result) if result is not None else None) == expected


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("192.0.2.1", False),  # documentation range
        ("198.18.0.1", False),  # benchmarking
        ("2001:db8::1", False),
        ("::", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
