import base64
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from mailflow.cli import main
from mailflow.errors import ConfigError
from mailflow.settings import SETTINGS, load

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_embedded_setup(tmp_path: Path) -> None:
    settings = load(None, env={})
    assert settings["database.url"] == "sqlite:///mailflow.sqlite3"
    assert settings["inbound.listen"] == "smtp"
    assert (settings["inbound.host"], settings["inbound.port"]) == ("127.0.0.1", 8025)
    assert settings["imap.host"] == ""


def test_toml_then_environment_override(tmp_path: Path) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text(
        '[program]\naddress = "Partners@Lib.example"\nstaff = ["a@x.example", "B@x.example"]\n'
        '[imap]\nhost = "imap.example"\nport = 1143\nidle = false\n',
        encoding="utf-8",
    )
    secret = "s3" * 16
    settings = load(config, env={"MAILFLOW_IMAP_PORT": "2143", "MAILFLOW_PROGRAM_SECRET": secret})
    assert settings.program_address == "partners@lib.example"
    assert settings.staff == ("a@x.example", "b@x.example")
    assert settings["imap.host"] == "imap.example"
    assert settings["imap.port"] == 2143  # the environment wins
    assert settings["imap.idle"] is False
    assert settings.secret() == secret.encode()


def test_secret_in_toml_is_refused_with_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text('[imap]\npassword = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"mailflow.toml: imap.password is a secret"):
        load(config, env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[imap]\nhots = 'x'\n", "unknown setting imap.hots"),
        ("[imap]\nport = 'abc'\n", "imap.port = 'abc' is not a valid value"),
        ("[imap]\nsecurity = 'ssl'\n", "imap.security must be none, starttls or tls"),
        ("[outbox]\nsenders = 0\n", "outbox.senders must be 1 to 8, not 0"),
        ("[outbox]\nsenders = 20\n", "outbox.senders must be 1 to 8, not 20"),
        ("[imap\n", "mailflow.toml"),
    ],
)
def test_bad_config_is_refused_with_a_reason(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load(config, env={})


def test_secret_file_is_created_once_and_kept(tmp_path: Path) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text("", encoding="utf-8")
    first = load(config, env={}).secret()
    assert (tmp_path / "mailflow-secret").stat().st_mode & 0o777 == 0o600
    assert load(config, env={}).secret() == first
    # token_urlsafe(32): 32 random bytes, 43 characters of base64.
    assert len(first) >= 43 and len(base64.urlsafe_b64decode(first + b"=")) == 32


def test_short_or_empty_secret_stops_start_up(tmp_path: Path) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"MAILFLOW_PROGRAM_SECRET: program.secret is 11 bytes"):
        load(config, env={"MAILFLOW_PROGRAM_SECRET": "test-secret"}).secret()
    secret_file = tmp_path / "mailflow-secret"
    secret_file.write_text("\n", encoding="utf-8")
    secret_file.chmod(0o600)
    # An empty file used to sign every token with an empty key.
    with pytest.raises(ConfigError, match=r"program.secret_file\): program.secret is 0 bytes"):
        load(config, env={}).secret()
    secret_file.write_text("x" * 31 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"at least 32 random bytes"):
        load(config, env={}).secret()
    secret_file.write_text("x" * 32 + "\n", encoding="utf-8")
    assert load(config, env={}).secret() == b"x" * 32


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_secret_file_open_to_others_stops_start_up(tmp_path: Path, mode: int) -> None:
    config = tmp_path / "mailflow.toml"
    config.write_text("", encoding="utf-8")
    secret_file = tmp_path / "mailflow-secret"
    secret_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    secret_file.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        load(config, env={}).secret()
    message = str(caught.value)
    assert "\n" not in message
    assert f"{secret_file}: program.secret_file is open to group or others" in message
    assert f"chmod 600 {secret_file}" in message
    secret_file.chmod(0o600)
    assert load(config, env={}).secret() == secret_file.read_bytes()


def test_run_refuses_an_empty_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mailflow-secret").write_text("", encoding="utf-8")
    (tmp_path / "mailflow-secret").chmod(0o600)
    env = {"MAILFLOW_INBOUND_LISTEN": "off", "MAILFLOW_DATABASE_URL": f"sqlite:///{tmp_path}/db"}
    result = CliRunner(env=env).invoke(main, ["run", "--once"])
    assert result.exit_code != 0
    assert "program.secret is 0 bytes" in result.output + (
        result.stderr if result.stderr_bytes else ""
    )


def test_every_setting_is_documented() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in docs or s.env not in docs]
    assert missing == []


def test_init_writes_a_config_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "site"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    text = (target / "mailflow.toml").read_text(encoding="utf-8")
    for s in SETTINGS:
        assert s.help in text
    settings = load(target / "mailflow.toml", env={})
    assert settings["inbound.port"] == 8025
    again = CliRunner().invoke(main, ["init", str(target)])
    assert again.exit_code != 0 and "not overwriting" in again.output
