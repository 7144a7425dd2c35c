"""Config: file + environment, one-line errors that name the key, secrets never echoed."""

from __future__ import annotations

import os
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.config import ConfigError, Settings, load_settings, settings_from_mapping

TOKEN = "123456789:AAE-secret-token-value-abcdefghijk"
ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


ACCOUNT = '[assistant]\napi_id = 5\napi_hash = "abc"\nsession_string = "sess"\n'


def minimal(extra: str = "") -> str:
    """Token, secret and, unless ``extra`` has its own, the account the default engine needs."""
    account = "" if "[assistant" in extra else ACCOUNT
    return (
        f'[telegram]\nbot_token = "{TOKEN}"\n[web]\nsecret_key = "s3cret-key-123"\n{account}{extra}'
    )


def test_minimal_file_gives_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, minimal()))
    assert settings.telegram.bot_token.get_secret_value() == TOKEN
    assert settings.telegram.api_base == "https://api.telegram.org"
    assert settings.storage.database_url == "sqlite+aiosqlite:///sattva.db"
    assert settings.storage.redis_url == ""
    assert settings.engine.kind == "pytgcalls"
    assert settings.sources.allow_private_networks is False
    assert settings.web.port == 8080


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.toml")
    message = str(info.value)
    assert "\n" not in message
    assert "config.example.toml" in message
    assert "bot_token" in message


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, minimal())
    monkeypatch.setenv("SATTVA_CONFIG", str(path))
    assert load_settings().telegram.bot_token.get_secret_value() == TOKEN


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('[engine]\nkind = "spotify"', "engine.kind", "'pytgcalls', 'local' or 'rtmp'"),
        ('[storage]\ndatabase_url = "mysql://x"', "storage.database_url", "async driver"),
        ('[storage]\nredis_url = "http://x"', "storage.redis_url", "redis://"),
        (
            '[storage]\nredis_url = "redis://x/0?health_check_interval=5"',
            "storage.redis_url",
            "health_check_interval",
        ),
        ('[web]\nport = "eighty"', "web.port", "integer"),
        ("[sources]\nmax_download_mb = -1", "sources.max_download_mb", "greater than or equal"),
        ("[player]\nqueue_lenght = 3", "player.queue_lenght", "Extra inputs"),
    ],
)
def test_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, extra: str, key: str, problem: str
) -> None:
    body = f'[telegram]\nbot_token = "{TOKEN}"\n{extra}\n'
    if not extra.startswith("[web]"):
        body += '[web]\nsecret_key = "s3cret-key-123"\n'
    else:
        body += 'secret_key = "s3cret-key-123"\n'
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert "\n" not in message
    assert key in message
    assert problem in message


def test_malformed_api_base(tmp_path: Path) -> None:
    path = write(tmp_path, minimal().replace("[web]", 'api_base = "ftp//nope"\n[web]'))
    with pytest.raises(ConfigError, match=r"telegram\.api_base: must be an http\(s\) URL"):
        load_settings(path)


def test_missing_token(tmp_path: Path) -> None:
    path = write(tmp_path, "[telegram]\nowners = [1]\n")
    with pytest.raises(ConfigError, match=r"telegram\.bot_token: Field required"):
        load_settings(path)


def test_bad_token_is_not_echoed(tmp_path: Path) -> None:
    secret = "not-a-token-but-secret-value"
    path = write(tmp_path, minimal().replace(TOKEN, secret))
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert "telegram.bot_token" in str(info.value)
    assert secret not in str(info.value)


def test_web_enabled_requires_secret_key(tmp_path: Path) -> None:
    path = write(tmp_path, f'[telegram]\nbot_token = "{TOKEN}"\n{ACCOUNT}')
    with pytest.raises(ConfigError, match=r"web\.secret_key: required when web\.enabled"):
        load_settings(path)
    path.write_text(f'[telegram]\nbot_token = "{TOKEN}"\n[web]\nenabled = false\n{ACCOUNT}')
    assert load_settings(path).web.enabled is False


def test_engine_needs_its_account_in_one_line(tmp_path: Path) -> None:
    """The keys the chosen engine needs are checked with the rest of the config."""
    no_account = minimal().replace(ACCOUNT, "")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, no_account))
    message = str(info.value)
    assert message.startswith(
        "config: assistant.api_id, assistant.api_hash, assistant.session_string: "
        'required for engine.kind = "pytgcalls"'
    )
    assert "python -m bot session" in message
    assert "\n" not in message
    partial = minimal().replace('session_string = "sess"', "")
    with pytest.raises(ConfigError, match=r"^config: assistant\.session_string: required"):
        load_settings(write(tmp_path, partial))
    local = load_settings(write(tmp_path, no_account + '[engine]\nkind = "local"\n'))
    assert local.engine.kind == "local"
    # a command that makes the missing part can still read the rest
    assert load_settings(write(tmp_path, partial), cross_field=False).assistant.api_id == 5


def test_every_cross_field_problem_is_named_at_once(tmp_path: Path) -> None:
    text = (
        f'[telegram]\nbot_token = "{TOKEN}"\n'
        "[player]\nauto_end_seconds = 10\nauto_end_warning_seconds = 20\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text))
    problems = str(info.value).removeprefix("config: ").split("; ")
    assert [p.split(":")[0] for p in problems] == [
        "web.secret_key",
        "player.auto_end_warning_seconds",
        "assistant.api_id, assistant.api_hash, assistant.session_string",
    ]


def test_environment_overrides_file_key_by_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, minimal('[storage]\nredis_url = "redis://a:1/0"\n'))
    monkeypatch.setenv("SATTVA_WEB__PORT", "9191")
    monkeypatch.setenv("SATTVA_TELEGRAM__OWNERS", "[5, 6]")
    monkeypatch.setenv("SATTVA_ENGINE__KIND", "local")
    settings = load_settings(path)
    assert settings.web.port == 9191
    assert settings.web.secret_key.get_secret_value() == "s3cret-key-123"  # kept from the file
    assert settings.telegram.owners == [5, 6]
    assert settings.engine.kind == "local"
    assert settings.storage.redis_url == "redis://a:1/0"


def test_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[telegram\n"))


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        sub = field.annotation
        args = typing.get_args(sub)
        if typing.get_origin(sub) is list and args and issubclass(args[0], BaseModel):
            sub = args[0]  # an array of tables: its keys
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            keys |= _keys(sub, f"{prefix}{name}.")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def test_example_lists_every_key_and_loads() -> None:
    """config.example.toml stays in step with the code: the same keys, and it validates."""
    data = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    example = {
        f"{section}.{key}"
        for section, values in data.items()
        for table in (values if isinstance(values, list) else [values])
        for key in table
    }
    assert example == _keys(Settings)
    # validates as it stands except for what the operator provides: the secret (generated
    # by `python -m bot init`) and the assistant account (made by `python -m bot session`)
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(data)
    assert str(info.value).count("required") == 2
    data["web"]["secret_key"] = "chosen-by-the-operator"
    data["assistants"][0].update(api_id=5, api_hash="abc", session_string="sess")
    settings = settings_from_mapping(data)
    assert settings.telegram.owners == []


def test_example_has_a_comment_on_every_key() -> None:
    for line in (ROOT / "config.example.toml").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"no comment: {line}"


def test_assistant_table_alone_is_a_pool_of_one(tmp_path: Path) -> None:
    body = minimal('[assistant]\napi_id = 5\napi_hash = "h"\nsession_string = "s"\n')
    pool = load_settings(write(tmp_path, body)).assistant_pool()
    assert [(a.name, a.api_id, a.session_string.get_secret_value()) for a in pool] == [
        ("main", 5, "s")
    ]


def test_assistants_array_is_the_pool(tmp_path: Path) -> None:
    body = minimal(
        '[engine]\nkind = "local"\n[[assistants]]\nname = "a1"\n[[assistants]]\nname = "b-2"\n'
    )
    assert [a.name for a in load_settings(write(tmp_path, body)).assistant_pool()] == ["a1", "b-2"]


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (
            '[assistant]\napi_id = 5\n[[assistants]]\nname = "a1"\n',
            "config: assistant: set either [assistant] or [[assistants]], not both",
        ),
        (
            '[[assistants]]\nname = "a1"\n[[assistants]]\nname = "a1"\n',
            "config: assistants: the name 'a1' is used twice",
        ),
        ('[[assistants]]\nname = "a b"\n', "config: assistants.0.name: must be 1-32 characters"),
        (
            "[cluster]\nenabled = true\n",
            "config: storage.redis_url: required when cluster.enabled is true",
        ),
        (
            '[cluster]\nenabled = true\n[storage]\nredis_url = "redis://h:1/0"\n',
            "config: storage.database_url: cluster.enabled needs PostgreSQL",
        ),
    ],
)
def test_pool_and_cluster_rules_are_one_line(tmp_path: Path, extra: str, line: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, minimal(extra)))
    assert str(info.value).startswith(line)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("telegram", "line"),
    [
        ('mode = "webhook"', "config: telegram.webhook_url: required"),
        (
            'mode = "webhook"\nwebhook_url = "https://bot.example/telegram/webhook"',
            "config: telegram.webhook_secret: required",
        ),
        (
            'webhook_url = "http://bot.example/"',
            "config: telegram.webhook_url: must be empty or an https://",
        ),
        ('webhook_secret = "has space"', "config: telegram.webhook_secret: must be 1-256"),
        ("calls_per_second = 0", "config: telegram.calls_per_second: Input should be greater"),
    ],
)
def test_webhook_rules_are_one_line(tmp_path: Path, telegram: str, line: str) -> None:
    body = minimal().replace("[web]", f"{telegram}\n[web]")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, body))
    assert str(info.value).startswith(line)


def test_webhook_and_cluster_accepted(tmp_path: Path) -> None:
    webhook = (
        f'[telegram]\nbot_token = "{TOKEN}"\nmode = "webhook"\n'
        'webhook_url = "https://bot.example/telegram/webhook"\nwebhook_secret = "s_e-cret"\n'
        f'[web]\nsecret_key = "s3cret-key-123"\n{ACCOUNT}'
    )
    assert load_settings(write(tmp_path, webhook)).telegram.mode == "webhook"
    cluster = (
        '[cluster]\nenabled = true\nnode_id = "n1"\nlease_seconds = 3\n[storage]\n'
        'redis_url = "redis://h:1/0"\ndatabase_url = "postgresql+asyncpg://u@h/db"\n'
        'queue_store = "database"\n'
    )
    settings = load_settings(write(tmp_path, webhook + cluster))
    assert settings.cluster.enabled
    assert settings.cluster.lease_seconds == 3
    assert settings.node_id() == "n1"
    assert settings.storage.queue_store == "database"
    # polling too: one node at a time polls, holding the poller lease (bot/cluster/polling.py)
    polling = load_settings(write(tmp_path, minimal(cluster)))
    assert (polling.cluster.enabled, polling.telegram.mode) == (True, "polling")


def test_node_id_defaults_to_host_and_pid(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, minimal()))
    assert settings.node_id().endswith(f"-{os.getpid()}")
    named = load_settings(write(tmp_path, minimal('[cluster]\nnode_id = "n7"\n')))
    assert named.node_id() == "n7"


def test_each_pool_account_needs_its_keys(tmp_path: Path) -> None:
    pool = (
        '[[assistants]]\nname = "ok"\napi_id = 1\napi_hash = "h"\nsession_string = "s"\n'
        '[[assistants]]\nname = "bad"\napi_id = 2\n'
    )
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, minimal(pool)))
    assert str(info.value).startswith(
        "config: assistants[bad].api_hash, assistants[bad].session_string: required for "
        'engine.kind = "pytgcalls"'
    )
    assert "assistants[ok]" not in str(info.value)
