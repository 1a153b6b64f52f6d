"""Operator commands: listings, one record's story, propose, the outbox, the rules."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from mailflow.app import DEFAULT_RULES, Services
from mailflow.cli import main
from mailflow.inbound.intake import Incoming, store
from mailflow.runtime import Runtime
from mailflow.store.schema import Outbox
from tests.helpers import PROGRAM, SECRET, STAFF, application, confirm_stored

ZH_NAME = "杭州市西湖区图书馆"


@pytest.fixture
def cli(
    make_services: Callable[..., Services],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Services, Callable[..., Result]]:
    """Three applications processed and acknowledged (two Spanish libraries, one Chinese)."""
    # The working directory decides where relative rules/ and templates/ are looked for.
    monkeypatch.chdir(tmp_path)
    env = {
        "MAILFLOW_DATABASE_URL": db_url,
        "MAILFLOW_PROGRAM_SECRET": SECRET,
        "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
        "MAILFLOW_PROGRAM_STAFF": STAFF,
        "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": "mx.program.example",
        "MAILFLOW_INBOUND_LISTEN": "off",
        "MAILFLOW_OUTBOUND_TRANSPORT": "maildir",
        "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "outgoing"),
        "MAILFLOW_CONFIG": "",
    }
    services = make_services(**env)
    with services.db.unit_of_work() as session:
        for raw in (application(1), application(2, lang="zh"), application(3)):
            store(session, Incoming(raw=raw, source="file", mailbox="test"), services.clock.now())
    runtime = Runtime(services)
    assert runtime.process().done == 3
    assert confirm_stored(services) == 3  # each applicant answers the confirmation mail
    # Send the mail at the test's time: the CLI's clock is the real one (confirmations, acks).
    assert runtime.drain().sent == 6
    runner = CliRunner(env=env)

    def run(*args: str) -> Result:
        return runner.invoke(main, list(args))

    return services, run


def _lines(result: Result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def _sent(tmp_path: Path) -> list[mailbox.MaildirMessage]:
    box = tmp_path / "outgoing"
    return list(mailbox.Maildir(box, create=False)) if box.exists() else []


def test_libraries_listing(cli: tuple) -> None:
    _, run = cli
    rows = _lines(run("libraries", "--json"))
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert list(rows[1]) == [
        "id", "name", "type", "country", "city", "state", "language", "contacts", "missing",
        "created",
    ]  # fmt: skip
    assert rows[1]["name"] == ZH_NAME and rows[1]["language"] == "zh"
    assert rows[1]["contacts"] == ["wangli2@library.example.cn:ok"]
    assert rows[0]["state"] == "seeking" and rows[0]["missing"] == []
    assert rows[0]["created"] == "2026-11-21T09:00:00+00:00"
    spain = _lines(run("libraries", "--json", "--country", "spain", "--state", "seeking"))
    assert [r["id"] for r in spain] == [1, 3]
    table = run("libraries")
    assert table.exit_code == 0 and ZH_NAME in table.output
    assert table.output.splitlines()[0].split()[:3] == ["id", "name", "type"]


def test_propose_show_and_partnerships(cli: tuple, tmp_path: Path) -> None:
    _, run = cli
    proposed = run("propose", "#1", ZH_NAME)
    assert proposed.exit_code == 0, proposed.output
    assert "partnership #1 proposed" in proposed.output
    assert "outbox: sent 1," in proposed.output
    staff = [m for m in _sent(tmp_path) if m["X-Envelope-To"] == STAFF]
    assert len(staff) == 1
    parsed = email.message_from_bytes(staff[0].as_bytes(), policy=email.policy.default)
    body = parsed.get_body(("plain",)).get_content()
    assert "Biblioteca Municipal de Segovia" in body and ZH_NAME in body

    (row,) = _lines(run("partnerships", "--json"))
    assert row["library_a"] == {"id": 1, "name": "Biblioteca Municipal de Segovia"}
    assert row["library_b"] == {"id": 2, "name": ZH_NAME}
    assert row["state"] == "proposed" and row["score"] > 0 and row["offered"] is None
    assert _lines(run("partnerships", "--json", "--state", "trial")) == []

    doc = json.loads(run("show", "p1", "--json").output)
    assert doc["kind"] == "partnership" and doc["state"] == "proposed"
    assert [s["id"] for s in doc["sides"]] == [1, 2]
    assert doc["sides"][0]["accepted"] is False and doc["sides"][0]["mou"] == {}
    (entry,) = doc["history"]
    assert (entry["from"], entry["to"], entry["event"], entry["cause"]) == (
        "new",
        "proposed",
        "proposed",
        "cli",
    )
    assert "auto-approve failed" in entry["trace_text"]
    assert entry["trace_text"].endswith("-> proposed")
    assert [o["template"] for o in doc["outbox"]] == ["staff-proposal"]
    assert doc["outbox"][0]["status"] == "sent"
    text = run("show", "partnership:1")
    assert text.exit_code == 0 and "rules line" in text.output and "by cli" in text.output


def test_show_library(cli: tuple) -> None:
    _, run = cli
    doc = json.loads(run("show", "2", "--json").output)
    assert doc["kind"] == "library" and doc["name"] == ZH_NAME and doc["state"] == "seeking"
    assert doc["contacts"][0]["email"] == "wangli2@library.example.cn"
    # Applied (message #2), then listed when its answer to the confirmation mail came (#5).
    applied, confirmed = doc["history"]
    assert applied["cause"] == "message #2" and applied["to"] == "unconfirmed"
    assert confirmed["cause"] == "message #5" and confirmed["to"] == "seeking"
    assert confirmed["trace_text"].startswith("rules line ")
    assert "address-proven held" in confirmed["trace_text"]
    assert "application-complete held" in confirmed["trace_text"]
    assert [t["name"] for t in doc["timers"]] == ["keep-listed"]
    assert sorted((o["template"], o["status"]) for o in doc["outbox"]) == [
        ("library-acknowledgement", "sent"),
        ("library-confirm-address", "sent"),
    ]
    assert doc["suppressed"] == []
    assert json.loads(run("show", "library:2", "--json").output)["id"] == 2
    text = run("show", "l2")
    assert "by message #2" in text.output and "keep-listed due" in text.output
    assert run("show", "l99").exit_code == 1
    assert run("show", "x7").exit_code == 2


@pytest.mark.parametrize(
    ("a", "b", "reason"),
    [
        ("1", "3", "Spain"),  # the same country
        ("1", "1", "itself"),
        ("Biblioteca Municipal de Segovia", "2", "libraries are named"),  # ambiguous name
    ],
)
def test_propose_refused(cli: tuple, a: str, b: str, reason: str) -> None:
    _, run = cli
    result = run("propose", a, b)
    assert result.exit_code == 1 and reason in result.output, result.output
    assert _lines(run("partnerships", "--json")) == []


def test_propose_twice_is_refused(cli: tuple) -> None:
    _, run = cli
    assert run("propose", "1", "2").exit_code == 0
    again = run("propose", "2", "l1")
    assert again.exit_code == 1 and "already have partnership #1 (proposed)" in again.output


def test_outbox_list_and_retry(cli: tuple, tmp_path: Path) -> None:
    services, run = cli
    listed = _lines(run("outbox", "list", "--json"))
    with services.db.unit_of_work() as session:
        # Ids as stored (a PostgreSQL batch takes its ids ahead from the sequence: gaps).
        ids = list(session.scalars(select(Outbox.id).order_by(Outbox.id.desc())))
    assert len(ids) == 6 and [r["id"] for r in listed] == ids  # newest first
    assert {r["status"] for r in listed} == {"sent"}
    assert [r["id"] for r in _lines(run("outbox", "list", "--json", "--limit", "1"))] == ids[:1]
    second = ids[-2]
    with services.db.unit_of_work() as session:
        row = session.get(Outbox, second)
        row.status, row.sent_at = "failed", None
        row.attempts, row.last_error = 8, "PermanentSendError: 550 no"
    (failed,) = _lines(run("outbox", "list", "--json", "--status", "failed"))
    assert failed["id"] == second and failed["last_error"].endswith("550 no")
    assert "550 no" in run("outbox", "list").output

    retried = run("outbox", "retry", "--all-failed")
    assert retried.exit_code == 0, retried.output
    assert f"retrying #{second} (attempts kept)" in retried.output
    assert f"#{second} sent after 9 attempts" in retried.output
    assert len(_sent(tmp_path)) == 7
    with services.db.unit_of_work() as session:
        assert {r.status for r in session.scalars(select(Outbox))} == {"sent"}
    assert run("outbox", "retry", str(second)).exit_code == 1  # sent rows are never resent
    assert run("outbox", "retry").exit_code == 2


def test_rules_check_and_graph(cli: tuple, tmp_path: Path) -> None:
    _, run = cli
    ok = run("rules", "check")
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("rules OK: library (") and "partnership (" in ok.output
    assert "templates OK (locales en" in ok.output
    mermaid = run("rules", "graph")
    assert mermaid.exit_code == 0 and "proposed --> offered" in mermaid.output
    dot = run("rules", "graph", "--machine", "library", "--format", "dot")
    assert dot.output.startswith('digraph "library"') and '"unconfirmed" -> "seeking"' in dot.output


def test_rules_check_reports_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES, rules)
    path = rules / "partnership.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    number = next(i for i, line in enumerate(lines) if line.strip() == "to: offered")
    lines[number] = lines[number].replace("to: offered", "to: offerred")
    path.write_text("".join(lines), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = {"MAILFLOW_PROGRAM_SECRET": SECRET, "MAILFLOW_RULES_DIR": str(rules)}
    result = CliRunner(env=env).invoke(main, ["rules", "check"])
    assert result.exit_code == 1
    # A transition is reported at its first line, the `- from:` above the broken `to:`.
    start = max(i for i in range(number) if lines[i].lstrip().startswith("- from:")) + 1
    assert f"{path}:{start}: to: unknown state 'offerred'" in result.output, result.output


def test_rules_check_needs_no_database_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner(env={"MAILFLOW_PROGRAM_SECRET": ""}).invoke(main, ["rules", "check"])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.iterdir()) == []  # no database, no secret file
