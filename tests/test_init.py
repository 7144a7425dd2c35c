"""``python -m bot init``: a first config that passes the secrets check, never over a file."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.init_command import InitError, read_token
from tests.test_cli import TOKEN, run_bot


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_writes_a_private_config_with_generated_secrets(tmp_path: Path) -> None:
    result = run_bot("init", "--token", TOKEN, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "config.toml"  # the default path, as for the bot itself
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.stdout.startswith("wrote config.toml (mode 0600)")
    assert TOKEN not in result.stdout + result.stderr
    settings = load_settings(path, cross_field=False)
    assert settings.telegram.bot_token.get_secret_value() == TOKEN
    secret = settings.web.secret_key.get_secret_value()
    monitoring = settings.web.monitoring_token.get_secret_value()
    assert len(secret) >= 40
    assert len(monitoring) >= 40
    assert secret != monitoring
    # what is left for the operator is the assistant account, and the bot says so
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "web.secret_key" not in str(info.value)
    assert "assistant.session_string" in str(info.value)
    assert "python -m bot session" in result.stdout

    other = tmp_path / "other.toml"
    assert run_bot("init", "--config", str(other), "--token", TOKEN, cwd=tmp_path).returncode == 0
    again = load_settings(other, cross_field=False).web.secret_key.get_secret_value()
    assert again != secret  # generated, not copied from somewhere


def test_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text("# the operator's own\n")
    result = run_bot("init", "--config", "mine.toml", "--token", TOKEN, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "init: mine.toml already exists; nothing was changed\n"
    assert path.read_text() == "# the operator's own\n"
    (tmp_path / "link.toml").symlink_to(tmp_path / "nowhere.toml")
    result = run_bot("init", "--config", "link.toml", "--token", TOKEN, cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "nowhere.toml").exists()


def test_without_a_terminal_the_token_must_be_given(tmp_path: Path) -> None:
    result = run_bot("init", cwd=tmp_path, stdin=TOKEN + "\n")
    assert result.returncode == 2
    assert result.stderr == "init: no terminal to ask for the bot token: pass --token TOKEN\n"
    assert not (tmp_path / "config.toml").exists()


def test_a_malformed_token_writes_nothing(tmp_path: Path) -> None:
    result = run_bot("init", "--token", "12:short", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("init: telegram.bot_token: does not look like a bot token")
    assert "12:short" not in result.stderr
    assert not (tmp_path / "config.toml").exists()


def test_token_asked_on_a_terminal() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return f"  {TOKEN}\n"

    assert read_token(None, stdin=Terminal(), prompt=prompt) == TOKEN
    assert asked == ["Bot token (from @BotFather): "]
    assert read_token(TOKEN, stdin=io.StringIO(), prompt=prompt) == TOKEN
    assert len(asked) == 1  # --token: nothing asked

    def eof(text: str) -> str:
        raise EOFError

    with pytest.raises(InitError, match="no bot token given"):
        read_token(None, stdin=Terminal(), prompt=eof)
