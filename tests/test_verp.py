"""VERP: each mail's envelope sender is `program+b<row>.<sig>@...`, so a report that comes back to
it counts against that mail's recipients, even when the report itself cannot be read.

Real parts: the aiosmtpd sink records the envelope MAIL FROM; the bounces come back through
mailflow's own SMTP endpoint with that address as RCPT TO; both databases.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.demo.world import free_port
from mailflow.inbound.lmtp import Endpoint
from mailflow.parse.tokens import parse_ref
from mailflow.store.schema import MessageFacts, Outbox
from tests.helpers import PROGRAM, application, bounce_for, mail
from tests.program import ProgramUnderTest
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

SEGOVIA, NAME = "maria1@biblioteca.example.es", "Biblioteca Municipal de Segovia"
UNREADABLE = (
    "This is the mail system at host mx.biblioteca.example.es.\n\n"
    "I'm sorry to have to inform you that your message could not\nbe delivered. Goodbye.\n"
)


@pytest.fixture
def start(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[Callable[..., tuple[ProgramUnderTest, SmtpSink]]]:
    made: list[tuple[ProgramUnderTest, SmtpSink]] = []

    def make(**env: str) -> tuple[ProgramUnderTest, SmtpSink]:
        sink = SmtpSink().start()
        made.append((ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path, **env), sink))
        return made[-1]

    yield make
    for p, sink in made:
        p.close()
        sink.stop()


def returned(p: ProgramUnderTest, raw: bytes, rcpt: str) -> str:
    """Over SMTP to mailflow's endpoint, as the relay brings a bounce: null sender, RCPT `rcpt`."""
    if p.endpoint is None:
        p.endpoint = Endpoint(p.services.db, p.clock, PROGRAM, protocol="smtp", port=free_port())
        p.endpoint.start()
    with smtplib.SMTP(p.endpoint.host, p.endpoint.port) as smtp:
        smtp.sendmail("", [rcpt], raw)
    p.step()
    with p.services.db.unit_of_work() as s:
        row = s.scalars(select(MessageFacts).order_by(MessageFacts.id.desc())).first()
        assert row is not None
        return row.outcome or ""


def return_path(p: ProgramUnderTest, sink: SmtpSink, template: str) -> tuple[str, Outbox]:
    """The envelope MAIL FROM the sink saw for the library's last mail of `template`."""
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(select(Outbox).where(Outbox.template == template)).all()
        row = next(r for r in reversed(rows) if SEGOVIA in r.recipients)
    (got,) = [r for r in sink.received if row.message_id in r.content.decode("utf-8", "replace")]
    return got.mail_from, row


def test_an_unreadable_bounce_to_the_return_path_counts_for_that_mail_only(
    start: Callable[..., tuple[ProgramUnderTest, SmtpSink]],
) -> None:
    p, sink = start()
    p.deliver(application(1))
    p.step()
    sender, row = return_path(p, sink, "library-acknowledgement")
    local, _, domain = sender.partition("@")
    assert domain == "program.example" and local.startswith("sisters+b")
    ref = parse_ref(local.partition("+")[2].partition(".")[0])
    assert ref is not None and (ref.kind, ref.id) == ("b", row.id)

    # Forged: the same text to the plain address, and to a return path with a made-up signature.
    plain = mail(
        sender="MAILER-DAEMON@mx.example", to=PROGRAM, subject="Undelivered", body=UNREADABLE
    )
    returned(p, plain, PROGRAM)
    fake = f"sisters+b{row.id}.aaaaaaaaaa@program.example"
    returned(p, mail(sender="MAILER-DAEMON@mx.example", to=fake, subject="Undelivered",
                     body=UNREADABLE), fake)  # fmt: skip
    assert {c.status for c in p.library(NAME).contacts} == {"ok"}

    # The relay's report cannot be read (no DSN, no quoted Message-ID), but it came back to the
    # acknowledgement's return path: its one recipient is bouncing (not failed: no proof).
    report = mail(
        sender="MAILER-DAEMON@mx.biblioteca.example.es", to=sender, subject="failure notice",
        body=UNREADABLE,
    )  # fmt: skip
    outcome = returned(p, report, sender)
    assert f"return path of outbox #{row.id}" in outcome and "unreadable" in outcome
    assert [c.status for c in p.library(NAME).contacts] == ["bouncing"]

    # A readable permanent DSN quoting none of our Message-IDs: the return path still ties it.
    dsn = bounce_for(SEGOVIA, "someone-else@relay.example")
    outcome = returned(p, dsn, sender)
    assert "report" in outcome and "failed" in outcome
    assert [c.status for c in p.library(NAME).contacts] == ["failed"]
    assert p.library(NAME).state == "unreachable"


def test_verp_off_sends_from_the_plain_address(
    start: Callable[..., tuple[ProgramUnderTest, SmtpSink]],
) -> None:
    p, sink = start(MAILFLOW_MAIL_VERP="false")
    p.deliver(application(1))
    p.step()
    sender, _ = return_path(p, sink, "library-acknowledgement")
    assert sender == PROGRAM
