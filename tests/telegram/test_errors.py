"""Every error code has its one chat sentence in every language, placeholders filled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import ErrorCode, SattvaError
from bot.domain.queue import QueueFull, QueuePositionError, StorageUnavailable
from bot.engines.base import EngineError, RateLimited
from bot.sources.base import SourceError
from bot.telegram.errors import describe
from bot.telegram.i18n import SUPPORTED_LOCALES, in_locale, make_i18n
from tests.support.locales import compile_locales

#: the placeholders each code's sentence needs
PARAMS: dict[ErrorCode, dict[str, Any]] = {
    ErrorCode.QUEUE_FULL: {"limit": 3},
    ErrorCode.NO_SUCH_TRACK: {"position": 9, "length": 2},
    ErrorCode.FLOOD_WAIT: {"seconds": 42},
    ErrorCode.LINK_UNREADABLE: {"service": "Spotify"},
}


@pytest.fixture(scope="module")
def locales(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_locales(tmp_path_factory.mktemp("locales"))


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_code_has_a_sentence(locales: Path, locale: str) -> None:
    with in_locale(make_i18n("en", locales), locale):
        texts = {code: describe(SattvaError(code, **PARAMS.get(code, {}))) for code in ErrorCode}
    assert all(texts.values())
    assert not [t for t in texts.values() if t and "{" in t]


def test_each_origin_is_phrased_from_its_code(locales: Path) -> None:
    with in_locale(make_i18n("en", locales), "en"):
        assert describe(RateLimited(42)) == (
            "Telegram asks the assistant to wait 42 s; try again then."
        )
        assert describe(QueueFull(3)) == "The queue is full (3 tracks)."
        assert describe(QueuePositionError(9, 2)) == "There is no track #9 (the queue has 2)."
        assert describe(StorageUnavailable("redis")) == (
            "Storage is unavailable, try again in a moment."
        )
        assert describe(SourceError("too_big")) == "That file is too big."
        assert describe(EngineError("x")) == "Playback failed; try again."
        assert describe(SattvaError(ErrorCode.BAD_VOLUME)) == "Usage: /volume <1-200>."
        assert describe(ValueError("a bug")) is None
    with in_locale(make_i18n("en", locales), "ru"):
        assert describe(RateLimited(5)) == (
            "Telegram просит ассистента подождать 5 с; попробуйте после этого."
        )


def test_str_stays_the_log_detail() -> None:
    assert str(QueueFull(3)) == "queue is full (3 tracks)"
    assert str(RateLimited(7)) == "Telegram asks to wait 7 s before trying again"
    assert str(SourceError("empty", "no args")) == "empty: no args"
    with pytest.raises(ValueError, match="unknown source error code"):
        SourceError("no_such_code")
