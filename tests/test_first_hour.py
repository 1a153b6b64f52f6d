"""The operator's first hour: every mistake is one clear line and a non-zero exit, and leaves
nothing behind; commands that only look create no database, no secret and no outgoing/."""

from __future__ import annotations

import json
import logging
import os
import shutil
import smtplib
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from mailflow import log
from mailflow.app import Services
from mailflow.cli import main
from mailflow.demo.run import DEMO_MARK, clear_folder
from mailflow.errors import ConfigError
from mailflow.outbox.render import DEFAULT_TEMPLATES, Renderer
from mailflow.runtime import Runtime
from mailflow.store.schema import Outbox
from tests.helpers import PROGRAM, STAFF, application
from tests.servers.dovecot import free_port

READ_ONLY = [
    ["libraries"],
    ["libraries", "export"],
    ["partnerships"],
    ["show", "l1"],
    ["messages"],
    ["outbox", "list"],
    ["deadletters", "list"],
    ["report", "--out", "site"],
    ["match", "--dry-run"],
    ["match", "--dry-run", "--json"],
]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Result]:
    """The CLI in tmp_path with no MAILFLOW_* settings from the surroundings."""
    for name in [n for n in os.environ if n.startswith("MAILFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, **env: str) -> Result:
        return CliRunner(env=env).invoke(main, list(args))

    return run


@pytest.fixture
def program(invoke: Callable[..., Result], tmp_path: Path) -> Path:
    """A program folder after `init` and `db upgrade`: a database and nothing else yet."""
    assert invoke("init", "prog").exit_code == 0
    os.chdir(tmp_path / "prog")
    upgraded = invoke("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    return tmp_path / "prog"


@pytest.mark.parametrize("args", [*READ_ONLY, ["propose", "1", "2"], ["match"]])
def test_outside_a_program_folder_a_command_says_so_and_creates_nothing(
    invoke: Callable[..., Result], tmp_path: Path, args: list[str]
) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no mailflow database at {tmp_path / 'mailflow.sqlite3'} and no mailflow.toml "
        f"in {tmp_path}; run 'mailflow init DIR' or 'mailflow db upgrade' first\n"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READ_ONLY)
def test_read_only_commands_make_no_secret_and_no_outgoing(
    invoke: Callable[..., Result], program: Path, args: list[str]
) -> None:
    before = sorted(p.name for p in program.iterdir())
    result = invoke(*args)
    assert result.exit_code == (1 if args[0] == "show" else 0), result.output  # no l1 yet
    after = sorted(p.name for p in program.iterdir() if p.name != "site")
    assert after == before  # no mailflow-secret, no outgoing/
    assert "mailflow-secret" not in after and "outgoing" not in after


def test_a_program_folder_without_its_database_names_the_fix(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    assert invoke("init", "prog").exit_code == 0
    os.chdir(tmp_path / "prog")
    result = invoke("libraries")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no mailflow database at {tmp_path / 'prog' / 'mailflow.sqlite3'}; "
        "run 'mailflow db upgrade' or 'mailflow run' first\n"
    )
    assert sorted(p.name for p in (tmp_path / "prog").iterdir()) == [
        "mailflow.toml",
        "rules",
        "templates",
    ]


@pytest.mark.parametrize("args", [["run", "--once"], ["db", "upgrade"], ["libraries"]])
def test_an_unopenable_database_is_one_line(
    invoke: Callable[..., Result], tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "not-a-db.sqlite3").write_text("hello\n", encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'not-a-db.sqlite3'}"
    result = invoke(*args, MAILFLOW_DATABASE_URL=url, MAILFLOW_INBOUND_LISTEN="off")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot open the database at {tmp_path / 'not-a-db.sqlite3'}: "
        "file is not a database\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["not-a-db.sqlite3"]  # no secret either


def test_a_database_in_a_missing_folder_is_one_line(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere" / "x.sqlite3"
    result = invoke(
        "run", "--once", MAILFLOW_DATABASE_URL=f"sqlite:///{path}", MAILFLOW_INBOUND_LISTEN="off"
    )
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: cannot open the database at {path}: unable to open database file\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_port_in_use_stops_run_before_anything_is_created(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("run", MAILFLOW_INBOUND_PORT=str(port))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: port {port} on 127.0.0.1 is already in use; stop what listens there "
        "or set inbound.port\n"
    )
    assert list(tmp_path.iterdir()) == []  # no database, no secret, no outgoing/


def test_init_into_an_unwritable_path(invoke: Callable[..., Result], tmp_path: Path) -> None:
    # Tests may run as root, who may write anywhere: a file in the way is unwritable for all.
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    result = invoke("init", "a-file/program")
    assert result.exit_code == 1
    assert result.stderr == "Error: cannot write a-file/program: Not a directory\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a-file"]


def _broken_templates(tmp_path: Path) -> Path:
    templates = tmp_path / "templates"
    shutil.copytree(DEFAULT_TEMPLATES, templates)
    path = templates / "en" / "library-acknowledgement.txt.j2"
    path.write_text("Subject: Thanks\n\n{% if library %}\nhello\n", encoding="utf-8")
    return path


def test_a_template_syntax_error_is_config_error_with_file_and_line(tmp_path: Path) -> None:
    path = _broken_templates(tmp_path)
    renderer = Renderer([tmp_path / "templates"])
    with pytest.raises(ConfigError) as caught:
        renderer.render("library-acknowledgement", "en", {})
    assert str(caught.value).startswith(f"{path}:4: Unexpected end of template.")


@pytest.mark.parametrize("args", [["rules", "check"], ["run", "--once"], ["libraries"]])
def test_a_template_syntax_error_stops_commands_without_a_traceback(
    invoke: Callable[..., Result], tmp_path: Path, args: list[str]
) -> None:
    path = _broken_templates(tmp_path)
    result = invoke(*args, MAILFLOW_INBOUND_LISTEN="off")
    assert result.exit_code == 1
    assert f"{path}:4: Unexpected end of template." in result.stderr
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert sorted(p.name for p in tmp_path.iterdir()) == ["templates"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["libraries", "--state", "waiting"], "--state 'waiting' is not one of: new, unconfirmed, lapsed, "
         "incomplete, seeking, partnered, resting, hidden, unreachable, withdrawn"),
        (["partnerships", "--state", "open"], "--state 'open' is not one of: new, proposed, "
         "offered, trial, mou_sent, active, renewal, stalled, lapsed, dropped, declined, closed"),
        (["messages", "--status", "ok"], "--status 'ok' is not one of: new, done, quarantined, dead"),
        (["outbox", "list", "--status", "queued"], "--status 'queued' is not one of: pending, "
         "sent, failed"),
    ],
)  # fmt: skip
def test_an_unknown_state_or_status_lists_the_valid_ones(
    invoke: Callable[..., Result], program: Path, args: list[str], message: str
) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"


def test_now_needs_once(invoke: Callable[..., Result], tmp_path: Path) -> None:
    result = invoke("run", "--now", "2027-01-04T09:00:00")
    assert result.exit_code == 2
    assert result.stderr == "Error: --now needs --once: a running service keeps the real time\n"
    assert list(tmp_path.iterdir()) == []


def test_match_dry_run_json_is_valid_json_with_the_reason(
    invoke: Callable[..., Result], program: Path
) -> None:
    result = invoke("match", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "dry_run": True,
        "pairs": [],
        "reason": "0 library(ies) can be matched now (seeking, listed, no open proposal, "
        "a working contact); a pair needs two",
    }


def _fake_demo(folder: Path, config: str) -> None:
    folder.mkdir()
    (folder / "mailflow.toml").write_text(config, encoding="utf-8")
    (folder / "mailflow.sqlite3").write_bytes(b"")
    (folder / "mail").mkdir()
    (folder / "notes.txt").write_text("mine\n", encoding="utf-8")


def test_demo_refuses_a_folder_that_holds_a_demo(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    _fake_demo(tmp_path / "demo", DEMO_MARK + "\n")
    result = invoke("demo", "--out", "demo")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: demo already holds a demo (mailflow.toml, mailflow.sqlite3, mail); "
        "use --force to replace it, or another --out\n"
    )
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "mail", "mailflow.sqlite3", "mailflow.toml", "notes.txt",
    ]  # fmt: skip


def test_demo_force_replaces_only_a_demo(tmp_path: Path) -> None:
    _fake_demo(tmp_path / "demo", DEMO_MARK + "\n")
    clear_folder(tmp_path / "demo", force=True)
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["notes.txt"]
    _fake_demo(tmp_path / "program", '[program]\nname = "Ours"\n')
    with pytest.raises(ConfigError, match="not a demo's mailflow.toml; not replacing anything"):
        clear_folder(tmp_path / "program", force=True)
    assert len(list((tmp_path / "program").iterdir())) == 4


def test_logs_are_quiet_at_info(
    make_services: Callable[..., Services],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """One line per message processed and per mail sent; no library chatter, no addresses."""
    for name in log.CHATTY:  # caplog puts these back after the test; configure changes them
        caplog.set_level(logging.NOTSET, logger=name)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="mailflow")  # the demo quiets it for its own run
    log.configure("INFO")
    port = free_port()
    services = make_services(
        MAILFLOW_INBOUND_LISTEN="smtp",
        MAILFLOW_INBOUND_PORT=str(port),
        MAILFLOW_OUTBOUND_TRANSPORT="maildir",
    )
    runtime = Runtime(services)
    runtime.start()
    try:
        sender = "maria1@biblioteca.example.es"
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail(sender, [PROGRAM], application(1))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with services.db.unit_of_work() as session:
                rows = session.scalars(select(Outbox)).all()
            if rows and all(r.status == "sent" for r in rows):
                break
            time.sleep(0.1)
    finally:
        runtime.stop()
    assert rows and all(r.status == "sent" for r in rows)
    info = [r for r in caplog.records if r.levelno == logging.INFO]
    assert [r.name for r in info if not r.name.startswith("mailflow")] == []
    text = "\n".join(r.getMessage() for r in info)
    for address in (sender, PROGRAM, *STAFF.split(",")):
        assert address not in text
    processed = [r for r in info if r.getMessage().startswith("inbox #")]
    sent = [r for r in info if " sent to " in r.getMessage()]
    assert len(processed) == 1 and len(sent) == len(rows), text


def test_parse_with_a_broken_config_is_one_line(
    invoke: Callable[..., Result], tmp_path: Path
) -> None:
    (tmp_path / "mailflow.toml").write_text("[program\n", encoding="utf-8")
    (tmp_path / "app.eml").write_bytes(application(1))
    result = invoke("parse", "app.eml")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: mailflow.toml: ") and result.stderr.count("\n") == 1
