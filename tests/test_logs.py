"""The log mask: no configured secret and no password hash in any written line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

from bot.logs import JsonFormatter, SecretMask
from bot.storage.admins import hash_password

TOKEN = "123456:" + "A" * 35


def written(log: Callable[[logging.Logger], None]) -> dict[str, str]:
    """The JSON line the production handler (mask, then formatter) writes for ``log``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretMask([TOKEN]))
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        log(logger)
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "$argon2" not in line
    assert TOKEN not in line
    entry: dict[str, str] = json.loads(line)
    return entry


def test_hashes_and_secrets_are_masked_in_message_extras_and_tracebacks() -> None:
    digest = hash_password("a password")
    weak = "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g"
    entry = written(
        lambda log: log.error(
            "saving %s failed: %r",
            f"https://api.example/bot{TOKEN}/x",
            {"password_hash": digest},
            extra={"params": (digest, weak), "url": f"bot{TOKEN}"},
        )
    )
    assert entry["event"].count("***") == 2
    assert entry["params"].count("***") == 2
    assert entry["url"] == "bot***"

    def failing(log: logging.Logger) -> None:
        try:
            raise ValueError(f"INSERT ... ('alice', '{digest}')")
        except ValueError:
            log.exception("failed")

    assert "('alice', '***')" in written(failing)["exc"]
