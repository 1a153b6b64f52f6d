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
    settings = load(config, env={"MAILFLOW_IMAP_PORT": "2143", "MAILFLOW_PROGRAM_SECRET": "s3"})
    assert settings.program_address == "partners@lib.example"
    assert settings.staff == ("a@x.example", "b@x.example")
    assert settings["imap.host"] == "imap.example"
    assert settings["imap.port"] == 2143  # the environment wins
    assert settings["imap.idle"] is False
    assert settings.secret() == b"s3"


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
    assert load(config, env={}).secret() == first and len(first) > 30


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
