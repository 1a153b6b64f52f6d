"""The command line as an operator meets it."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import mailflow.dispatch.route
from mailflow.app import Services
from mailflow.cli import main
from mailflow.parse import tokens
from mailflow.runtime import Runtime
from mailflow.store.db import Database
from mailflow.store.schema import InboxMessage, Library
from tests.helpers import PROGRAM, SECRET, application, mail
from tests.servers.dovecot import free_port

PARSE_KEYS = [
    "file", "message_id", "from", "to", "cc", "reply_to", "subject", "date", "kind", "text",
    "body_charset", "reply_text",
    "language", "attachments", "bounce", "auto_reply", "token", "in_reply_to", "fields",
    "intent", "defects",
]  # fmt: skip


def test_parse_json_contract_needs_no_database_or_config(tmp_path: Path) -> None:
    token = tokens.make_token(SECRET.encode(), "p7")
    (tmp_path / "app.eml").write_bytes(application(1))
    (tmp_path / "reply.eml").write_bytes(
        mail(
            sender="Wang Li <wangli@library.example.cn>",
            to=f"sisters+{token}@program.example",
            subject="Re: 姐妹图书馆",
            body="好的，我们同意。\r\n\r\n在 2026年11月21日 10:02，sisters@program.example 写道：\r\n> 您好",
            headers={"In-Reply-To": "<offer-1@program.example>"},
        )
    )
    os.chdir(tmp_path)
    result = CliRunner(env={"MAILFLOW_PROGRAM_SECRET": SECRET}).invoke(
        main, ["parse", "--json", "app.eml", "missing.eml", "reply.eml"]
    )
    # The missing file is one line on stderr and exit 1; the others still print.
    assert result.exit_code == 1, result.output
    assert result.stderr == "Error: missing.eml: No such file or directory\n"
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == ["app.eml", "reply.eml"]
    app, reply = lines
    assert list(app) == PARSE_KEYS and list(reply) == PARSE_KEYS
    assert app["kind"] == "application"
    assert app["from"] == {"address": "maria1@biblioteca.example.es", "name": "Maria Lopez"}
    assert app["fields"]["library_name"] == "Biblioteca Municipal de Segovia"
    assert app["fields"]["country"] == "Spain"
    assert app["date"] == "2026-11-21T09:00:00+00:00"
    assert app["bounce"] is None and app["auto_reply"] is False
    assert reply["kind"] == "reply"
    assert reply["token"] == token
    assert reply["intent"] == "accept"
    assert reply["reply_text"] == "好的，我们同意。"
    assert reply["language"] == "zh"
    assert reply["in_reply_to"] == "offer-1@program.example"
    assert sorted(os.listdir(tmp_path)) == ["app.eml", "reply.eml"]  # wrote nothing


def test_parse_rejects_a_forged_token(tmp_path: Path) -> None:
    good = tokens.make_token(SECRET.encode(), "p7")
    forged = "p8" + good[2:]
    path = tmp_path / "forged.eml"
    path.write_bytes(mail(to=f"sisters+{forged}@program.example", subject="Re: offer", body="yes"))
    os.chdir(tmp_path)
    result = CliRunner(env={"MAILFLOW_PROGRAM_SECRET": SECRET}).invoke(
        main, ["parse", "--json", str(path)]
    )
    out = json.loads(result.output)
    assert out["token"] is None and "forged-token" in out["defects"]


def test_messages_and_deadletters_list_and_replay(
    make_services: Callable[..., Services], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    services = make_services()
    runtime = Runtime(services)
    from mailflow.inbound.intake import Incoming, store

    with services.db.unit_of_work() as s:
        for raw in (application(1), mail(subject="boom", sender="x@lib.example")):
            store(s, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    real = mailflow.dispatch.route.act

    def failing(turn, facts):  # noqa: ANN001, ANN202 - fault injection for one message
        if facts.subject == "boom":
            raise RuntimeError("simulated handling crash")
        return real(turn, facts)

    monkeypatch.setattr(mailflow.dispatch.route, "act", failing)
    report = runtime.process()
    assert (report.done, report.dead) == (1, 1)

    env = {"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_PROGRAM_SECRET": SECRET}
    runner = CliRunner(env=env)
    listed = runner.invoke(main, ["deadletters", "list", "--json"])
    (letter,) = [json.loads(line) for line in listed.output.splitlines()]
    assert letter["reason"] == "RuntimeError: simulated handling crash"

    messages = runner.invoke(main, ["messages", "--json"])
    by_status = {json.loads(line)["status"] for line in messages.output.splitlines()}
    assert by_status == {"done", "dead"}

    monkeypatch.setattr(mailflow.dispatch.route, "act", real)  # the bug is fixed
    replayed = runner.invoke(main, ["deadletters", "replay", str(letter["id"])])
    assert replayed.exit_code == 0, replayed.output
    assert "done 1" in replayed.output
    assert runner.invoke(main, ["deadletters", "list", "--json"]).output == ""
    with services.db.unit_of_work() as s:
        assert {r.status for r in s.scalars(select(InboxMessage))} == {"done"}


def _wait_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("endpoint did not start")


def test_run_with_no_config_is_the_embedded_default(tmp_path: Path) -> None:
    """No config at all: SQLite in the working directory, SMTP on a local port."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILFLOW_")}
    env["MAILFLOW_INBOUND_PORT"] = str(port)  # 8025 may be taken by a parallel run
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_port(port, proc)
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.sendmail("wangli3@library.example.cn", [PROGRAM], application(3, lang="zh"))
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("a@b.example", ["someone@else.example"], mail())
        db = Database(f"sqlite:///{tmp_path / 'mailflow.sqlite3'}")
        deadline = time.monotonic() + 20
        while True:
            with db.unit_of_work() as s:
                library = s.scalars(select(Library)).first()
            if library is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        # Acted on only once the address answers the confirmation mail.
        assert library is not None and library.state == "unconfirmed"
        db.dispose()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert f"SMTP on 127.0.0.1:{port}" in out.decode()
    assert "stopped after processing 1 messages" in out.decode()
    assert (tmp_path / "mailflow-secret").exists()
