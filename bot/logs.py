"""Structured logging: one line per event, JSON by default, secrets masked.

A masking filter sits on the handler, so a token that slips into any library's message
(an URL with the bot token, an exception text) is replaced before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterable
from typing import Any

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# Password hashes are secrets of their own (offline guessing): masked whatever their source.
# The PHC format: $argon2id$v=19$m=...,t=...,p=...$salt$hash (also argon2i, argon2d).
_HASH_RE = re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=,$.-]*")


class SecretMask(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True)

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _HASH_RE.sub("***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.mask(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.mask(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        # fields given with ``extra=`` are written too (JsonFormatter): masked alike
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                shown = value if isinstance(value, str) else str(value)
                if shown != (masked := self.mask(shown)):
                    setattr(record, key, masked)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exc"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str, secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(SecretMask(secrets))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Each poll and each HTTP access would otherwise be a line: keep them for DEBUG.
    # aiosqlite logs every statement with its values at DEBUG: never wanted.
    for noisy in ("aiogram.event", "uvicorn.access", "pyrogram", "ntgcalls", "aiosqlite"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
