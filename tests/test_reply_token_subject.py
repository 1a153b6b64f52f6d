"""Replies on a mail system without sub-addressing (mail.reply_token = subject), and check-mail.

A private Dovecot without a recipient delimiter is the program mailbox: mail to
sisters+anything@ is refused there, as on Postfix's default. Mail reaches it over its LMTP, the
way the receiving mail server delivers it; mailflow's own mail leaves through an aiosmtpd relay
that delivers mail for program.example into the same Dovecot (so check-mail's probes travel
the real path). Real IMAP, real databases.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.admin.mailcheck import check_mail
from mailflow.store.schema import MessageFacts, Partnership
from tests.helpers import PROGRAM, STAFF, application, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

COORDINATOR = f"Coordinator <{STAFF}>"
MARIA = "Maria Lopez <maria1@biblioteca.example.es>"
WANGLI = "王丽 <wangli2@library.example.cn>"

Make = Callable[..., tuple[ProgramUnderTest, SmtpSink, Dovecot]]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'mailflow.sqlite3'}"  # correlation is the same on both


@pytest.fixture
def make(db_url: str, make_dovecot: Callable[..., Dovecot], tmp_path: Path) -> Iterator[Make]:
    made: list[tuple[ProgramUnderTest, SmtpSink]] = []

    def build(delimiter: str, **env: str) -> tuple[ProgramUnderTest, SmtpSink, Dovecot]:
        dv = make_dovecot(users={PROGRAM: "secret"}, recipient_delimiter=delimiter)
        sink = SmtpSink(forward=(dv.host, dv.lmtp_port, ("program.example",))).start()
        p = ProgramUnderTest(db_url, dv, MailUser(PROGRAM, "secret", dv), sink, tmp_path, **env)
        made.append((p, sink))
        return p, sink, dv

    yield build
    for p, sink in made:
        p.close()
        sink.stop()


def answer(dv: Dovecot, original: Sent, sender: str, body: str, **kw: object) -> None:
    """A reply sent where the original asks (Reply-To, else From), delivered by LMTP."""
    dv.deliver_lmtp(parseaddr(original.reply_to)[1], reply(original, sender, body, **kw))


def without_threading(raw: bytes) -> bytes:
    """A client (or list) that drops In-Reply-To and References: only the subject is left."""
    return re.sub(rb"(?im)^(In-Reply-To|References):.*\r\n(?:[ \t].*\r\n)*", b"", raw)


def test_subject_mode_carries_offer_accept_introduction_without_subaddressing(
    make: Make,
) -> None:
    p, _, dv = make("", MAILFLOW_MAIL_REPLY_TOKEN="subject")
    dv.deliver_lmtp(PROGRAM, application(1))
    dv.deliver_lmtp(PROGRAM, application(2, lang="zh"))
    p.step()
    p.new_mail()
    pair = "pair maria1@biblioteca.example.es with wangli2@library.example.cn"
    dv.deliver_lmtp(PROGRAM, mail(sender=STAFF, subject="pair", body=pair))
    p.step()
    (proposal,) = for_address(p.new_mail(), STAFF)
    assert proposal.msg["Reply-To"] is None and "[SL-p1]" in proposal.subject
    answer(dv, proposal, COORDINATOR, "approve", client="outlook")
    p.step()
    offers = {m.to[0]: m for m in p.new_mail()}
    en, zh = offers["maria1@biblioteca.example.es"], offers["wangli2@library.example.cn"]
    assert all("[SL-p1]" in m.subject and m.msg["Reply-To"] is None for m in (en, zh))
    assert p.partnership(1).state == "offered"
    # The next day: confirmation, acknowledgement and offer were today's three automatic mails
    # to each library (limits.mails_per_address_per_day).
    p.clock.advance(timedelta(days=1))
    # A stranger naming the partnership in the subject moves nothing: the tag is only a hint.
    stranger = mail(
        sender="x@elsewhere.example", subject=f"Re: {en.subject}", body="Yes!",
        headers={"In-Reply-To": "<forwarded.1@elsewhere.example>"},
    )  # fmt: skip
    dv.deliver_lmtp(PROGRAM, stranger)
    answer(dv, en, MARIA, "Yes, we would love an introduction!")
    # Wang Li's client drops the threading headers: the subject tag (she is a contact of p1)
    # ties her yes to the partnership, but a tag is no proof: her own address is asked first.
    raw = without_threading(reply(zh, WANGLI, "好的，我们同意。", client="qq"))
    assert b"In-Reply-To" not in raw
    dv.deliver_lmtp(PROGRAM, raw)
    p.step()
    assert p.partnership(1).state == "offered"
    (ask,) = for_address(p.new_mail(), "wangli2@library.example.cn")
    answer(dv, ask, WANGLI, "确认")
    p.step()
    intro = [m for m in p.new_mail() if "maria1@biblioteca.example.es" in m.to]
    assert p.partnership(1).state == "trial"
    assert intro and all("[SL-p1]" in m.subject for m in intro)
    with p.services.db.unit_of_work() as s:
        stranger = s.scalar(
            select(MessageFacts).where(MessageFacts.from_address == "x@elsewhere.example")
        )
        assert stranger is not None and stranger.outcome_code != "event"
        assert s.scalar(select(Partnership.state)) == "trial"


def test_subaddress_mode_loses_replies_there_and_staff_confirm_works_in_subject_mode(
    make: Make,
) -> None:
    p, _, dv = make("", MAILFLOW_MAIL_REPLY_TOKEN="subject")
    dv.deliver_lmtp(PROGRAM, application(1))
    p.step()
    (ack,) = p.new_mail()
    with pytest.raises(smtplib.SMTPRecipientsRefused):  # what a sub-address meets here
        dv.deliver_lmtp("sisters+l1.abcdefghij@program.example", reply(ack, MARIA, "hi"))
    # An unauthenticated staff command asks for confirmation; the confirmation travels by its
    # Message-ID (unguessable), not by the subject tag.
    dv.deliver_lmtp(
        PROGRAM,
        mail(sender=STAFF, subject="status", body="status maria1@biblioteca.example.es",
             authenticated=False),
    )  # fmt: skip
    p.step()
    (ask,) = for_address(p.new_mail(), STAFF)
    assert "[SL-c1]" in ask.subject
    forged = mail(sender=STAFF, subject=f"Re: {ask.subject}", body="confirm", authenticated=False)
    dv.deliver_lmtp(PROGRAM, forged)
    p.step()
    assert not for_address(p.new_mail(), STAFF)  # the tag alone confirms nothing
    answer(dv, ask, COORDINATOR, "confirm", authenticated=False)
    p.step()
    (status,) = for_address(p.new_mail(), STAFF)
    assert "Maria" in status.text or "biblioteca" in status.text


@pytest.mark.parametrize("delimiter", ["+", ""])
def test_check_mail_reports_subaddressing(make: Make, delimiter: str) -> None:
    p, sink, _ = make(delimiter)
    services = p.services
    result = check_mail(
        services.program,
        services.transport,
        services.imap_config(),
        services.db,
        timeout=20,
        grace=2,
    )
    print("\n".join(result.lines()))  # the report, as `mailflow check-mail` prints it
    assert result.plain.arrived
    assert result.subaddressing is (delimiter == "+")
    assert result.ok is (delimiter == "+")
    changes = "\n".join(result.advice())
    assert ('set mail.reply_token = "subject"' in changes) is (delimiter == "")
    assert "no Authentication-Results" in changes
    assert [u[0] for u in sink.undeliverable] == ([] if delimiter else [result.sub.address])
    assert p.dovecot.uids(PROGRAM) == []  # the probes found were deleted
