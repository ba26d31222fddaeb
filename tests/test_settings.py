"""Settings: the names of DESIGN.md from the environment and ``.env``, secrets hidden,
channel modes derived from credentials, and a clear Spanish error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PREGONERO_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_default(tmp_path: Path) -> None:
    s = load_settings()
    assert s.content_dir == Path("content")
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'pregonero.db'}"
    assert s.redis_url is None
    assert s.timezone == "America/Bogota"
    assert s.website.backend == "static"
    assert s.channel_mode("website") == "live"
    for channel in ("telegram", "x", "facebook", "mailing"):
        assert s.channel_mode(channel) == "outbox"
    assert s.telegram.api_url == "https://api.telegram.org/bot"
    assert s.telegram.resolved_file_url == "https://api.telegram.org/file/bot"
    assert s.x.api_url == "https://api.x.com"
    assert s.facebook.graph_url == "https://graph.facebook.com"


def test_environment_names_and_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "PREGONERO_TELEGRAM__BOT_TOKEN": "123456:ABC-secret-token",
        "PREGONERO_TELEGRAM__CHAT_ID": "-1001234",
        "PREGONERO_TELEGRAM__EDITORS": "11, 22;33",
        "PREGONERO_TELEGRAM__API_URL": "http://127.0.0.1:9000/bot",
        "PREGONERO_X__API_KEY": "k",
        "PREGONERO_X__API_SECRET": "s",
        "PREGONERO_X__ACCESS_TOKEN": "t",
        "PREGONERO_X__ACCESS_SECRET": "ts",
        "PREGONERO_FACEBOOK__PAGE_ID": "42",
        "PREGONERO_FACEBOOK__PAGE_TOKEN": "EAAB-secret",
        "PREGONERO_FACEBOOK__API_VERSION": "23.0",
        "PREGONERO_SMTP__HOST": "smtp.example.org",
        "PREGONERO_SMTP__FROM": "prensa@bucaramanga.gov.co",
        "PREGONERO_SMTP__PASSWORD": "smtp-secret",
        "PREGONERO_X__MODE": "outbox",
        "PREGONERO_WEBSITE__BASE_URL": "https://www.bucaramanga.gov.co/noticias",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load_settings()
    assert s.telegram.editors == [11, 22, 33]
    assert s.telegram.resolved_file_url == "http://127.0.0.1:9000/file/bot"
    assert s.channel_mode("telegram") == "live"
    assert s.channel_mode("facebook") == "live"
    assert s.channel_mode("mailing") == "live"
    assert s.channel_mode("x") == "outbox"  # explicit MODE wins over credentials
    assert s.facebook.api_version == "v23.0"
    assert s.website.base_url.endswith("/noticias/")
    assert s.public_url == "https://www.bucaramanga.gov.co"
    dumped = repr(s) + str(s.model_dump())
    for secret in ("ABC-secret-token", "EAAB-secret", "smtp-secret"):
        assert secret not in dumped


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "PREGONERO_CONTENT_DIR=/srv/prensa/content\nPREGONERO_TIMEZONE=America/Bogota\n",
        encoding="utf-8",
    )
    s = load_settings()
    assert s.content_dir == Path("/srv/prensa/content")
    assert s.resolved_database_url == "sqlite:////srv/prensa/pregonero.db"


def test_bad_value_is_a_clear_spanish_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREGONERO_SMTP__PORT", "veinticinco")
    monkeypatch.setenv("PREGONERO_TIMEZONE", "Marte/Olympus")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "Configuración inválida" in message
    assert "PREGONERO_SMTP__PORT" in message and "veinticinco" in message
    assert "PREGONERO_TIMEZONE" in message and "zona horaria desconocida" in message


def test_bad_secret_value_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREGONERO_TELEGRAM__BOT_TOKEN", '{"not": "a string"}')
    monkeypatch.setenv("PREGONERO_TELEGRAM__MODE", "sometimes")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "PREGONERO_TELEGRAM__MODE" in str(caught.value)


def test_cli_reports_bad_settings_without_traceback(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import clean_env

    env = clean_env() | {"PREGONERO_DELIVERY__MAX_ATTEMPTS": "0"}
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher.cli", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PREGONERO_DELIVERY__MAX_ATTEMPTS" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_channel_sections(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``PREGONERO_<NAME>__…`` of a channel that is no built-in section is kept for it (not
    dropped), every value hidden, the environment over ``.env``; its mode follows MODE, else
    whether any key besides MODE is set."""
    (tmp_path / ".env").write_text(
        "PREGONERO_MASTODON__TOKEN=del-archivo\nPREGONERO_MASTODON__API_URL=https://m.example/\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PREGONERO_MASTODON__TOKEN", "tok-entorno-123")
    monkeypatch.setenv("PREGONERO_BLUESKY__MODE", "LIVE")
    monkeypatch.setenv("PREGONERO_TELEGRAM__CHAT_ID", "-100123")
    s = load_settings()
    mastodon = s.plugin("mastodon")
    assert mastodon.get("token") == "tok-entorno-123"
    assert mastodon.get("API_URL") == "https://m.example/"
    assert "tok-entorno-123" not in repr(s) and "tok-entorno-123" not in str(s.plugins)
    assert s.channel_mode("mastodon") == "live" and s.channel_configured("mastodon")
    assert s.channel_mode("bluesky") == "live" and not s.channel_configured("bluesky")
    assert s.channel_mode("whatsapp") == "outbox" and s.plugin("whatsapp").get("x") is None
    assert s.telegram.chat_id == "-100123" and "telegram" not in s.plugins

    monkeypatch.setenv("PREGONERO_MASTODON__MODE", "outbox")
    assert load_settings().channel_mode("mastodon") == "outbox"
    monkeypatch.setenv("PREGONERO_MASTODON__MODE", "a veces")
    with pytest.raises(SettingsError, match="PREGONERO_MASTODON__MODE") as info:
        load_settings()
    assert "tok-entorno-123" not in str(info.value)
