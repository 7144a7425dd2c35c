"""The one line a chat reads when its assistant account is replaced (a pool move)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.events import Event
from bot.engines.pool import MOVE_CODES
from bot.telegram.announcer import Announcer
from bot.telegram.i18n import in_locale, make_i18n
from tests.support.locales import compile_locales


@pytest.mark.parametrize(
    ("locale", "code", "line"),
    [
        ("en", "flood_wait", "🔁 Assistant a1 must wait (Telegram flood limit); a2 takes over."),
        ("en", "banned", "🔁 Assistant a1 is banned here; a2 takes over."),
        ("en", "channels_too_much", "🔁 Assistant a1 is in too many groups; a2 takes over."),
        ("ru", "not_member", "🔁 Ассистент a1 не может войти в эту группу; дальше играет a2."),
        ("uk", "unavailable", "🔁 Асистент a1 недоступний; далі грає a2."),
    ],
)
def test_move_is_one_short_line(tmp_path: Path, locale: str, code: str, line: str) -> None:
    i18n = make_i18n("en", compile_locales(tmp_path / "locales"))
    event = Event(
        "system_alert", -1, {"kind": "assistant_moved", "code": code, "from": "a1", "to": "a2"}
    )
    with in_locale(i18n, locale):
        assert Announcer._moved_text(event) == line


def test_every_move_code_of_the_pool_has_its_own_reason(tmp_path: Path) -> None:
    i18n = make_i18n("en", compile_locales(tmp_path / "locales"))
    lines = {}
    with in_locale(i18n, "en"):
        for code in MOVE_CODES:
            data = {"kind": "assistant_moved", "code": code, "from": "a1", "to": "a2"}
            lines[code] = Announcer._moved_text(Event("system_alert", -1, data))
    assert all("a1" in line and "a2" in line and "\n" not in line for line in lines.values())
    assert len(set(lines.values())) == len(MOVE_CODES)  # no code falls back to another's
