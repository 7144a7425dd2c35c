"""The reliability suite reuses the bot's fixtures: the fake Bot API, compiled catalogues,
generated songs and the loopback media server (tests/telegram/conftest.py)."""

from __future__ import annotations

from tests.telegram.conftest import fake_api, locales_dir, media, songs

__all__ = ["fake_api", "locales_dir", "media", "songs"]
