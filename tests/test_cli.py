"""The command line as an operator meets it: real subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAE-secret-token-value-abcdefghijk"


def run_bot(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SATTVA_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_missing_config_is_one_line_and_nonzero(tmp_path: Path) -> None:
    result = run_bot("--config", "missing.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "missing.toml not found" in lines[0]
    assert "config.example.toml" in lines[0]


def test_default_path_is_config_toml_in_cwd(tmp_path: Path) -> None:
    result = run_bot(cwd=tmp_path)
    assert result.returncode == 2
    assert "config.toml not found" in result.stderr


def test_bad_value_is_one_line_naming_the_key(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        f'[telegram]\nbot_token = "{TOKEN}"\n[engine]\nkind = "winamp"\n[web]\nenabled = false\n'
    )
    result = run_bot("--config", "c.toml", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("config: engine.kind:")
    assert "Traceback" not in result.stderr
    assert TOKEN not in result.stderr


def test_engine_without_its_account_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    """engine.kind = "pytgcalls" without [assistant]: the same one line as any config error,
    from both the bot and `check`, and nothing was started (the database is not created)."""
    db = tmp_path / "s.db"
    (tmp_path / "c.toml").write_text(
        f'[telegram]\nbot_token = "{TOKEN}"\n[engine]\nkind = "pytgcalls"\n'
        f'[web]\nsecret_key = "0123456789abcdef"\n'
        f'[storage]\ndatabase_url = "sqlite+aiosqlite:///{db}"\n'
    )
    expected = (
        "config: assistant.api_id, assistant.api_hash, assistant.session_string: required for "
        'engine.kind = "pytgcalls" (run `python -m bot session` for the session string, or use '
        'engine.kind = "local")'
    )
    result = run_bot("--config", "c.toml", cwd=tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expected + "\n")
    check = run_bot("check", "--config", "c.toml", cwd=tmp_path)
    assert (check.returncode, check.stdout, check.stderr) == (1, f"FAIL {expected}\n", "")
    assert not db.exists()


def test_config_option_after_subcommand(tmp_path: Path) -> None:
    result = run_bot("check", "--config", "nowhere.toml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        "FAIL config: nowhere.toml not found: `python -m bot init --config nowhere.toml` writes "
        "one (or copy config.example.toml to nowhere.toml and set telegram.bot_token; "
        "--config PATH for another file)"
    ]


def test_session_needs_api_credentials(tmp_path: Path) -> None:
    result = run_bot("session", cwd=tmp_path)
    assert result.returncode == 2
    assert "api_id and api_hash are needed" in result.stderr
    assert "Traceback" not in result.stderr


def test_session_refuses_without_a_terminal(tmp_path: Path) -> None:
    result = run_bot("session", "--api-id", "12345", "--api-hash", "abcdef0123", cwd=tmp_path)
    assert result.returncode == 2
    assert "interactive" in result.stderr


def test_session_rejects_non_numeric_api_id(tmp_path: Path) -> None:
    result = run_bot("session", "--api-id", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "invalid int value" in result.stderr


@pytest.mark.parametrize("argv", [["admin"], ["admin", "create"], ["frobnicate"]])
def test_usage_errors(tmp_path: Path, argv: list[str]) -> None:
    result = run_bot(*argv, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage:" in result.stderr


def test_admin_create_through_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(
        f'[telegram]\nbot_token = "{TOKEN}"\n[web]\nsecret_key = "0123456789abcdef"\n'
        '[engine]\nkind = "local"\n'
        f'[storage]\ndatabase_url = "sqlite+aiosqlite:///{tmp_path / "a.db"}"\n'
    )
    first = run_bot(
        "admin",
        "create",
        "alice",
        "--password-stdin",
        "--config",
        "c.toml",
        cwd=tmp_path,
        stdin="correct horse battery\n",
    )
    assert first.returncode == 0, first.stderr
    assert "alice" in first.stdout
    again = run_bot(
        "--config",
        "c.toml",
        "admin",
        "create",
        "alice",
        "--password-stdin",
        cwd=tmp_path,
        stdin="another good password\n",
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout != first.stdout  # created, then reset
    short = run_bot(
        "admin",
        "create",
        "bob",
        "--password-stdin",
        "--config",
        "c.toml",
        cwd=tmp_path,
        stdin="short\n",
    )
    assert short.returncode == 2
    assert "Traceback" not in short.stderr


def test_session_name_must_be_a_pool_name(tmp_path: Path) -> None:
    result = run_bot(
        "session", "--api-id", "12345", "--api-hash", "abcdef0123", "--name", "a b", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "--name: 1-32 characters" in result.stderr


def test_assistant_table_loads_as_a_pool_entry(tmp_path: Path) -> None:
    from bot.cli import assistant_table
    from bot.config import load_settings

    table = assistant_table("a2", 777, 'h"ash', "SeSsIoN==")
    config = tmp_path / "c.toml"
    config.write_text(
        f'[telegram]\nbot_token = "{TOKEN}"\n[web]\nenabled = false\n{table}\n', encoding="utf-8"
    )
    [entry] = load_settings(config).assistant_pool()
    assert (entry.name, entry.api_id, entry.api_hash.get_secret_value()) == ("a2", 777, 'h"ash')
    assert entry.session_string.get_secret_value() == "SeSsIoN=="
