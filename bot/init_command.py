"""``python -m bot init``: a first config file that already passes the secrets check.

Copying config.example.toml by hand left ``web.secret_key`` empty, so a newcomer's first
start failed on a key they had never heard of.  This writes the example with the bot token
filled in and the web secrets generated, never over an existing file (it may hold the only
copy of a session string), readable by its owner only (it holds the token).
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from bot.config import ConfigError, settings_from_mapping
from bot.resources import bundled

EXAMPLE = "config.example.toml"


class InitError(Exception):
    """Why no config was written, phrased as the one line the operator reads."""


def _set(text: str, key: str, value: str) -> str:
    """Replaces the value of the one line ``key = "..."`` of the example."""
    pattern = re.compile(rf'^({re.escape(key)}\s*=\s*)"[^"\n]*"', re.MULTILINE)
    new, count = pattern.subn(lambda m: f'{m.group(1)}"{value}"', text)
    if count != 1:
        raise InitError(f"init: {EXAMPLE} has {count} lines for {key}, expected one")
    return new


#: the example's pool table: a first config uses the single [assistant] table instead
_POOL_TABLE = re.compile(r"^\[\[assistants\]\]\n(?:[^\n\[#][^\n]*\n)*", re.MULTILINE)


def _comment_out_pool(text: str) -> str:
    """Comments out the example's ``[[assistants]]`` table: with it, ``[assistant]`` (what
    ``python -m bot session`` fills in) would be refused as a second way to set accounts."""
    return _POOL_TABLE.sub(
        lambda m: "".join(f"# {line}\n" for line in m.group(0).splitlines()), text
    )


def render_config(example: str, token: str) -> str:
    """The example with the token and freshly generated web secrets; checked by the loader."""
    header = "# Written by `python -m bot init`: the bot token and the web secrets are set.\n"
    text = header + _set(_comment_out_pool(example), "bot_token", token)
    text = _set(text, "secret_key", secrets.token_urlsafe(32))
    text = _set(text, "monitoring_token", secrets.token_urlsafe(32))
    try:
        # the assistant account is made later (`session`): only the keys' own rules apply
        settings_from_mapping(tomllib.loads(text), cross_field=False)
    except ConfigError as exc:
        raise InitError(f"init: {str(exc).removeprefix('config: ')}") from None
    return text


def read_token(
    given: str | None,
    *,
    stdin: TextIO = sys.stdin,
    prompt: Callable[[str], str] = getpass.getpass,
) -> str:
    """``--token`` wins; otherwise asked for on a terminal (never read from a pipe)."""
    if given is None:
        if not stdin.isatty():
            raise InitError("init: no terminal to ask for the bot token: pass --token TOKEN")
        try:
            given = prompt("Bot token (from @BotFather): ")
        except EOFError:
            given = ""
    token = given.strip()
    if not token:
        raise InitError("init: no bot token given")
    return token


def write_new(path: Path, text: str) -> None:
    """Creates ``path`` with mode 0600; an existing file (or link) is left untouched."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InitError(f"init: {path} already exists; nothing was changed") from None
    except OSError as exc:
        raise InitError(f"init: cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # whatever the umask
        file.write(text)


def run_init(path: Path, token: str | None, out: Callable[[str], None] = print) -> None:
    """Raises InitError before anything is written when the file exists or the token is bad."""
    if path.exists() or path.is_symlink():
        raise InitError(f"init: {path} already exists; nothing was changed")
    try:
        example = bundled(EXAMPLE).read_text(encoding="utf-8")
    except OSError as exc:  # an install without the template: say so, no traceback
        raise InitError(f"init: cannot read {EXAMPLE}: {exc.strerror}") from None
    text = render_config(example, read_token(token))
    write_new(path, text)
    out(f"wrote {path} (mode 0600) with a generated web.secret_key and web.monitoring_token")
    out(
        'next: engine.kind is "pytgcalls": run `python -m bot session` and put the session '
        'string and api_id/api_hash into [assistant] (or set engine.kind = "local" to try it '
        "without a voice chat), then `python -m bot check`"
    )
