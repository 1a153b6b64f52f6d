"""A whole program under test: real Dovecot in, real SMTP sink out, a frozen clock in between.

Libraries' mail is APPENDed to the program mailbox; mailflow runs `run --once` at the frozen
time; what it sends is read back from the sink and answered the way real clients shape replies.
"""

from __future__ import annotations

import email
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.app import Services, build
from mailflow.clock import FrozenClock
from mailflow.demo.clients import reply_bytes
from mailflow.demo.world import free_port
from mailflow.inbound.lmtp import Endpoint
from mailflow.parse.authn import DnsFunc
from mailflow.runtime import OnceReport, Runtime
from mailflow.settings import load
from mailflow.store.schema import Library, Outbox, Partnership
from tests.helpers import (
    PROGRAM,
    SECRET,
    STAFF,
    STAFF_VERDICT,
    T0,
    TRUSTED_MX,
    confirmation_replies,
    is_staff_sender,
)
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink


@dataclass
class Sent:
    to: tuple[str, ...]  # envelope recipients
    msg: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.msg["Subject"])

    @property
    def text(self) -> str:
        return self.msg.get_body(("plain",)).get_content()

    @property
    def html(self) -> str:
        return self.msg.get_body(("html",)).get_content()

    @property
    def reply_to(self) -> str:
        return str(self.msg["Reply-To"] or self.msg["From"])


class ProgramUnderTest:
    def __init__(
        self,
        db_url: str,
        dovecot: Dovecot,
        user: MailUser,
        sink: SmtpSink,
        tmp: Path,
        dnsfunc: DnsFunc | None = None,
        auto_confirm: bool = True,
        **env: str,
    ) -> None:
        self.dovecot, self.user, self.sink = dovecot, user, sink
        # New applications wait for their address to confirm (rules/library.yaml `unconfirmed`).
        # Tests about something else let each applicant answer the confirmation mail, through the
        # mailbox like any reply; those mails (and nothing else) are then left out of new_mail().
        self.auto_confirm = auto_confirm
        self.answered: set[str] = set()
        self.clock = FrozenClock(T0)
        settings = load(
            None,
            env={
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_PROGRAM_SECRET": SECRET,
                "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
                "MAILFLOW_PROGRAM_STAFF": STAFF,
                "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": TRUSTED_MX,
                "MAILFLOW_INBOUND_LISTEN": "off",
                "MAILFLOW_IMAP_HOST": dovecot.host,
                "MAILFLOW_IMAP_PORT": str(dovecot.imap_port),
                "MAILFLOW_IMAP_USER": user.address,
                "MAILFLOW_IMAP_PASSWORD": user.password,
                "MAILFLOW_IMAP_SECURITY": "none",
                "MAILFLOW_OUTBOUND_TRANSPORT": "smtp",
                "MAILFLOW_SMTP_HOST": sink.host,
                "MAILFLOW_SMTP_PORT": str(sink.port),
                "MAILFLOW_SMTP_SECURITY": "none",
                **env,
            },
        )
        # No DNS in tests: DKIM keys come from the test's own lookup (none: nothing verifies).
        self.services: Services = build(settings, self.clock, dnsfunc=dnsfunc or _no_dns)
        self.runtime = Runtime(self.services)
        self._seen = 0
        self.endpoint: Endpoint | None = None

    # -- driving --------------------------------------------------------------------------------
    def deliver(self, raw: bytes) -> None:
        """Into the program mailbox over IMAP (APPEND), as a mail server would file it."""
        self.dovecot.append(self.user.address, "INBOX", raw)

    def send(self, raw: bytes, sender: str = "someone@example.org") -> None:
        """Over SMTP to mailflow's own endpoint (inbound.listen = smtp), as an MTA would relay it."""
        if self.endpoint is None:
            self.endpoint = Endpoint(
                self.services.db, self.clock, self.services.program.program_address,
                protocol="smtp", port=free_port(),
            )  # fmt: skip
            self.endpoint.start()
        with smtplib.SMTP(self.endpoint.host, self.endpoint.port) as smtp:
            smtp.sendmail(sender, [self.services.program.program_address], raw)

    def step(self) -> OnceReport:
        report = self.runtime.run_once()
        if self.auto_confirm:
            replies = confirmation_replies(self.services, self.answered)
            for raw in replies:
                self.deliver(raw)
            if replies:
                self.runtime.run_once()
        return report

    def advance(self, days: float = 0, hours: float = 0) -> OnceReport:
        """Move the clock, run, then deliver what was held for the readers' working hours."""
        self.clock.advance(timedelta(days=days, hours=hours))
        report = self.step()
        with self.services.db.unit_of_work() as s:
            held = s.scalar(
                select(func.max(Outbox.next_attempt_at)).where(Outbox.status == "pending")
            )
        if held is not None and held > self.clock.now():
            self.clock.set(held)
            self.step()
        return report

    # -- what went out -----------------------------------------------------------------------
    def new_mail(self) -> list[Sent]:
        received = self.sink.received
        fresh, self._seen = received[self._seen :], len(received)
        mails = [
            Sent(r.rcpt_tos, email.message_from_bytes(r.content, policy=default)) for r in fresh
        ]
        return [m for m in mails if str(m.msg["Message-ID"]).strip("<>") not in self.answered_ids]

    @property
    def answered_ids(self) -> set[str]:
        return {mid.strip("<>") for mid in self.answered}

    def close(self) -> None:
        if self.endpoint is not None:
            self.endpoint.stop()
        self.services.db.dispose()
        if self.services.transport is not None:
            self.services.transport.close()

    # -- the database, read-only ---------------------------------------------------------------
    def library(self, name: str) -> Library:
        with self.services.db.unit_of_work() as s:
            lib = s.scalar(select(Library).where(Library.name == name))
            assert lib is not None, f"no library {name!r}"
            lib.contacts  # noqa: B018 - load before the session closes
            return lib

    def partnership(self, pid: int) -> Partnership:
        with self.services.db.unit_of_work() as s:
            return s.get(Partnership, pid)


def _no_dns(name: bytes, timeout: int = 5) -> None:
    return None


@pytest.fixture
def program(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    """A program on the shared Dovecot and a fresh SMTP sink (tests/conftest.py serves it)."""
    sink = SmtpSink().start()
    p = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path)
    yield p
    p.close()
    sink.stop()


def for_address(mails: list[Sent], address: str) -> list[Sent]:
    return [m for m in mails if address in m.to]


# -- how real clients shape a reply: the same builder the demo uses -----------------------------
def reply(
    original: Sent,
    sender: str,
    body: str,
    client: str = "gmail",
    subject_prefix: str = "Re: ",
    to: str | None = None,
    authenticated: bool | None = None,
) -> bytes:
    """A reply to `original` from `sender`, quoting it the way `client` does.

    authenticated: the trusted receiving host's dmarc=pass on it; by default for staff mail.
    """
    verdict = authenticated or (authenticated is None and is_staff_sender(sender))
    return reply_bytes(
        original=original.msg, original_text=original.text, sender=sender, body=body,
        date=T0 + timedelta(days=30), client=client, to=to,
        extra_headers=[("Authentication-Results", STAFF_VERDICT)] if verdict else (),
    )  # fmt: skip
