"""Two mailflow programs behind a relay that strips Auto-Submitted and X-Mailflow-Origin.

Each program's outgoing mail (read from its own SMTP sink) is delivered, with those headers
stripped, to the other program's SMTP endpoint, for 20 rounds at one frozen moment. One mail
starts it: program B's address applies to program A (a form someone sent from B's mailbox).
Nothing but the limits can stop the ping-pong, so at most three automatic mails per address
per day may cross in each direction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.policy import SMTP
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.store.schema import InboxMessage, MessageFacts
from tests.helpers import application, mail
from tests.program import ProgramUnderTest, Sent
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

A = "sisters@program.example"
B = "partners@other-program.example"
ROUNDS = 20
STRIPPED = re.compile(
    rb"(?im)^(Auto-Submitted|X-Mailflow-Origin|X-Auto-Response-Suppress|Precedence):.*\r\n"
    rb"(?:[ \t].*\r\n)*"
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailflow.sqlite3'}"  # the limits are the same on both


@pytest.fixture
def two(
    dovecot: Dovecot, dovecot_users: Callable[..., MailUser], tmp_path: Path
) -> Iterator[tuple[ProgramUnderTest, ProgramUnderTest]]:
    made = []
    for name, address in (("a", A), ("b", B)):
        (tmp_path / name).mkdir()
        sink = SmtpSink().start()
        p = ProgramUnderTest(
            f"sqlite:///{tmp_path / name / 'mailflow.sqlite3'}", dovecot, dovecot_users(name),
            sink, tmp_path / name, MAILFLOW_PROGRAM_ADDRESS=address,
            MAILFLOW_PROGRAM_SECRET=f"{name}-secret-long-enough-for-32-bytes-of-hmac-key",
        )  # fmt: skip
        made.append((p, sink))
    yield made[0][0], made[1][0]
    for p, sink in made:
        p.close()
        sink.stop()


def addressed(mails: list[Sent], program: str) -> list[Sent]:
    """The mails for `program`'s address or one of its +sub-addresses."""
    local, _, domain = program.partition("@")
    return [
        m
        for m in mails
        if any(
            t == program or (t.startswith(local + "+") and t.endswith("@" + domain)) for t in m.to
        )
    ]


def relay(mail: Sent, sender: str, to: ProgramUnderTest) -> None:
    stripped = STRIPPED.sub(b"", mail.msg.as_bytes(policy=SMTP))
    assert b"Auto-Submitted" not in stripped and b"X-Mailflow-Origin" not in stripped
    to.send(stripped, sender=sender)


STARTS = {
    # B's mailbox sends A an application: A's acknowledgement reads like a form to B.
    "application": application(1).replace(b"maria1@biblioteca.example.es", B.encode()),
    # Something neither understands: each answers "we could not understand your mail".
    "unclear": mail(sender=f"Partners <{B}>", subject="hello?", body="Is anyone there?"),
}


@pytest.mark.parametrize("first", sorted(STARTS))
def test_two_programs_behind_a_stripping_relay_do_not_loop(
    two: tuple[ProgramUnderTest, ProgramUnderTest], first: str
) -> None:
    a, b = two
    start = STARTS[first]
    a.send(start, sender=B)
    a.step()
    a_to_b: list[Sent] = []
    b_to_a: list[Sent] = []
    pending_ab = addressed(a.new_mail(), B)
    for _ in range(ROUNDS):
        a_to_b += pending_ab
        for m in pending_ab:
            relay(m, A, b)
        b.step()
        pending_ba = addressed(b.new_mail(), A)
        b_to_a += pending_ba
        for m in pending_ba:
            relay(m, B, a)
        a.step()
        pending_ab = addressed(a.new_mail(), B)
        if not pending_ab and not pending_ba:
            break
    assert a_to_b, "the first mail got an answer"
    assert len(a_to_b) <= 3 and len(b_to_a) <= 3, (
        [m.subject for m in a_to_b],
        [m.subject for m in b_to_a],
    )
    for p in (a, b):  # every mail was read and kept, none dead
        with p.services.db.unit_of_work() as s:
            rows = s.execute(
                select(InboxMessage.status, MessageFacts.outcome_code).outerjoin(
                    MessageFacts, MessageFacts.inbox_id == InboxMessage.id
                )
            ).all()
        assert all(status == "done" and code for status, code in rows), rows
