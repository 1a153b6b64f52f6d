"""`mailflow run --once --now TIME` acts as if it were that time: an operator sees what would fire."""

from __future__ import annotations

import email
import mailbox
import smtplib
from email.header import decode_header, make_header
from email.policy import default
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from mailflow.cli import main
from mailflow.demo.clients import reply_bytes
from mailflow.inbound.lmtp import Endpoint
from mailflow.store.db import Database
from mailflow.store.schema import Library, Timer
from tests.helpers import PROGRAM, SECRET, T0, application
from tests.servers.dovecot import free_port


def subjects(folder: Path) -> list[str]:
    if not folder.exists():
        return []
    return [
        # A long subject is folded on the wire; unfolded as a reader sees it.
        " ".join(str(make_header(decode_header(m["Subject"]))).split())
        for m in mailbox.Maildir(folder, create=False)
    ]


def test_run_once_now_fires_what_is_due_at_that_time(db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "outgoing"
    env = {"MAILFLOW_DATABASE_URL": db_url, "MAILFLOW_PROGRAM_SECRET": SECRET, "MAILFLOW_INBOUND_LISTEN": "off",
           "MAILFLOW_OUTBOUND_MAILDIR": str(out)}  # fmt: skip
    runner = CliRunner(env=env)
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    # A library applies over SMTP, as anyone would.
    db = Database(db_url)
    from mailflow.clock import FrozenClock

    endpoint = Endpoint(db, FrozenClock(T0), PROGRAM, protocol="smtp", port=free_port())
    endpoint.start()
    with smtplib.SMTP("127.0.0.1", endpoint.port, local_hostname="localhost") as smtp:
        smtp.sendmail("maria1@biblioteca.example.es", [PROGRAM], application(1))
    endpoint.stop()

    first = runner.invoke(main, ["run", "--once", "--now", T0.isoformat()])
    assert first.exit_code == 0, first.output
    assert "processed 1" in first.output and "sent 1" in first.output
    ask = "Please confirm your Sister Libraries application for Biblioteca Municipal de Segovia"
    assert subjects(out) == [ask]
    # The applicant answers the confirmation mail; only then is the library listed.
    (confirm,) = mailbox.Maildir(out, create=False)
    original = email.message_from_bytes(confirm.as_bytes(), policy=default)
    answer = reply_bytes(original=original, original_text=original.get_body(("plain",)).get_content(),
                         sender="maria1@biblioteca.example.es", body="Yes, I confirm.", date=T0)  # fmt: skip
    endpoint = Endpoint(db, FrozenClock(T0), PROGRAM, protocol="smtp", port=free_port())
    endpoint.start()
    with smtplib.SMTP("127.0.0.1", endpoint.port, local_hostname="localhost") as smtp:
        smtp.sendmail("maria1@biblioteca.example.es", [PROGRAM], answer)
    endpoint.stop()
    second = runner.invoke(main, ["run", "--once", "--now", T0.isoformat()])
    assert "processed 1" in second.output and "sent 1" in second.output
    ack = "Biblioteca Municipal de Segovia is now on the Sister Libraries list"
    assert sorted(subjects(out)) == sorted([ask, ack])

    # Nothing is due a week later...
    week = runner.invoke(main, ["run", "--once", "--now", "2026-11-28T09:00:00+00:00"])
    assert "timers: fired 0" in week.output and len(subjects(out)) == 2
    # ...but half a year later the library is asked whether it wants to stay listed.
    later = runner.invoke(main, ["run", "--once", "--now", "2027-05-24T10:00:00+00:00"])
    assert later.exit_code == 0, later.output
    assert "timers: fired 1" in later.output
    keep = [s for s in subjects(out) if s not in (ack, ask)]
    assert len(keep) == 1 and "keep" in keep[0].lower(), keep
    with db.unit_of_work() as s:
        library = s.scalars(select(Library)).one()
        assert library.state == "seeking" and library.data["awaiting_keep_listed"] is True
        pending = {t.name for t in s.scalars(select(Timer).where(Timer.status == "pending"))}
        assert pending == {
            "keep-listed",
            "keep-listed-expires",
        }  # the next ask, and the 30-day deadline
    db.dispose()
