"""A whole program under test: real Dovecot in, real SMTP sink out, a frozen clock in between.

Libraries' mail is APPENDed to the program mailbox; mailflow runs `run --once` at the frozen
time; what it sends is read back from the sink and answered the way real clients shape replies.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from sqlalchemy import func, select

from mailflow.app import Services, build
from mailflow.clock import FrozenClock
from mailflow.runtime import OnceReport, Runtime
from mailflow.settings import load
from mailflow.store.schema import Library, Outbox, Partnership
from tests.helpers import PROGRAM, SECRET, STAFF, T0
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
        self, db_url: str, dovecot: Dovecot, user: MailUser, sink: SmtpSink, tmp: Path, **env: str
    ) -> None:
        self.dovecot, self.user, self.sink = dovecot, user, sink
        self.clock = FrozenClock(T0)
        settings = load(
            None,
            env={
                "MAILFLOW_DATABASE_URL": db_url,
                "MAILFLOW_PROGRAM_SECRET": SECRET,
                "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
                "MAILFLOW_PROGRAM_STAFF": STAFF,
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
                "MAILFLOW_RULES_DIR": str(tmp / "no-rules"),
                "MAILFLOW_TEMPLATES_DIR": str(tmp / "no-templates"),
                **env,
            },
        )
        self.services: Services = build(settings, self.clock)
        self.runtime = Runtime(self.services)
        self._seen = 0

    # -- driving --------------------------------------------------------------------------------
    def deliver(self, raw: bytes) -> None:
        self.dovecot.append(self.user.address, "INBOX", raw)

    def step(self) -> OnceReport:
        return self.runtime.run_once()

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
        return [
            Sent(r.rcpt_tos, email.message_from_bytes(r.content, policy=default)) for r in fresh
        ]

    def close(self) -> None:
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


def for_address(mails: list[Sent], address: str) -> list[Sent]:
    return [m for m in mails if address in m.to]


# -- how real clients shape a reply ------------------------------------------------------------
def reply(
    original: Sent,
    sender: str,
    body: str,
    client: str = "gmail",
    subject_prefix: str = "Re: ",
    to: str | None = None,
) -> bytes:
    """A reply to `original` from `sender`, quoting it the way `client` does."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to or original.reply_to
    msg["Subject"] = ("回复：" if client in ("qq", "163") else subject_prefix) + original.subject
    msg["Date"] = format_datetime(T0)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].split("@")[-1])
    msg["In-Reply-To"] = original.msg["Message-ID"]
    msg["References"] = " ".join(
        filter(None, [str(original.msg.get("References", "")), str(original.msg["Message-ID"])])
    )
    quoted_lines = original.text.splitlines()
    who = str(original.msg["From"])
    if client == "gmail":
        text = (
            body
            + f"\n\nOn Mon, 21 Dec 2026 at 10:00, {who} wrote:\n"
            + "\n".join("> " + q for q in quoted_lines)
        )
        html = f'<div dir="ltr">{body}</div><br><div class="gmail_quote">On Mon, 21 Dec 2026 at 10:00, {who} wrote:<br><blockquote class="gmail_quote">{original.text[:500]}</blockquote></div>'
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
    elif client == "outlook":
        text = (body + "\n\n________________________________\n" + f"From: {who}\nSent: Monday, December 21, 2026 10:00 AM\n"
                + f"To: {sender}\nSubject: {original.subject}\n\n" + original.text)  # fmt: skip
        msg["X-Mailer"] = "Microsoft Outlook 16.0"
        msg["Thread-Topic"] = original.subject
        msg.set_content(text)
    elif client == "apple":
        text = (
            body
            + f"\n\nSent from my iPhone\n\n> On 21 Dec 2026, at 10:00, {who} wrote:\n"
            + "\n".join("> " + q for q in quoted_lines)
        )
        msg["X-Mailer"] = "iPhone Mail (20A362)"
        msg.set_content(text)
    elif client == "qq":
        text = (body + "\n\n\n------------------&nbsp;原始邮件&nbsp;------------------\n" + f"发件人: \"{who}\"\n"
                + "发送时间: 2026年12月21日(星期一) 上午10:00\n" + f"收件人: \"{sender}\"\n" + f"主题: {original.subject}\n\n"
                + original.text)  # fmt: skip
        msg["X-Mailer"] = "QQMail 2.x"
        msg.set_content(text, charset="gb18030", cte="base64")
    else:
        raise ValueError(client)
    return msg.as_bytes(policy=SMTP)
