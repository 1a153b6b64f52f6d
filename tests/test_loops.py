"""Issue 9, no loops, no floods: correspondents that answer everything and strip our headers.

Each loop is driven by hand: whatever mailflow sends the misbehaving mailbox is answered the way
that mailbox would, delivered over SMTP, for 20 rounds at one frozen moment. Header-based loop
protection cannot help here (no Auto-Submitted, no X-Mailflow-Origin survives), so what stops
each loop is the limits: at most three automatic mails per address per day, and every incoming
message is still `done` with an outcome.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from sqlalchemy import select

from mailflow.store.schema import AttentionItem, InboxMessage, MessageFacts, Outbox, Suppressed
from tests.helpers import APPLICATION_MISSING_CITY, STAFF, application, mail
from tests.program import ProgramUnderTest, Sent, for_address

ROUNDS = 20
SEGOVIA = "maria1@biblioteca.example.es"
NAIROBI = "john@nairobi-library.example.ke"
LIST = "sisters-team@lists.segovia.example.es"


def plain(sender: str, to: str, subject: str, body: str) -> bytes:
    """A mail with no RFC 3834 headers, no In-Reply-To and none of ours: a cheap script's."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="script.example")
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def loop(p: ProgramUnderTest, address: str, answer) -> list[Sent]:  # noqa: ANN001 - a callable
    """Answer every mail mailflow sends `address` for ROUNDS rounds; return all it was sent."""
    got: list[Sent] = []
    pending = for_address(p.new_mail(), address)
    for _ in range(ROUNDS):
        got += pending
        for sent in pending:
            p.send(answer(sent), sender=address)
        p.step()
        pending = for_address(p.new_mail(), address)
    return got + pending


def nothing_lost(p: ProgramUnderTest) -> None:
    with p.services.db.unit_of_work() as s:
        rows = s.execute(select(InboxMessage.status, MessageFacts.outcome_code).outerjoin(
            MessageFacts, MessageFacts.inbox_id == InboxMessage.id)).all()  # fmt: skip
    assert rows and all(status == "done" and code for status, code in rows), rows


def suppressed(p: ProgramUnderTest, recipient: str) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(Suppressed.reason).where(Suppressed.recipient == recipient)))


def test_a_staff_vacation_script_without_headers_gets_three_mails(
    program: ProgramUnderTest,
) -> None:
    p = program
    # A mail nobody understands: staff get a needs-a-person notice, which the script answers.
    p.send(mail(sender="Pat <pat@somewhere.example>", subject="hello?", body="Is anyone there?"))
    p.step()
    vacation = "Thank you for your message. I read mail on Mondays and will get back to you then."
    got = loop(p, STAFF, lambda m: plain(STAFF, m.reply_to, f"Re: {m.subject}", vacation))
    assert 1 <= len(got) <= 3
    assert all(m.msg["Auto-Submitted"] == "auto-generated" for m in got)
    reasons = suppressed(p, STAFF)
    assert reasons and all("24 hours" in r or "held" in r for r in reasons), reasons
    # The script kept writing; every mail is read and kept, the coordinators are told once.
    with p.services.db.unit_of_work() as s:
        assert s.query(InboxMessage).count() == 1 + len(got)
        held = s.scalars(select(AttentionItem).where(AttentionItem.code == "sender-held")).all()
    assert len(held) <= 1
    nothing_lost(p)


def test_a_mailing_list_reposting_our_acknowledgement_is_not_a_new_application(
    program: ProgramUnderTest,
) -> None:
    p = program
    # The library's contact address is a list; the list re-posts what we send it to its
    # members and to us, with its own From and every header of ours stripped.
    body = (
        application(1)
        .decode()
        .split("\r\n\r\n", 1)[1]
        .replace("\r\n", "\n")
        .replace("maria1@biblioteca.example.es", LIST)
    )
    p.send(mail(sender=f"Segovia team <{LIST}>", body=body), sender=LIST)
    p.step()

    def repost(m: Sent) -> bytes:
        footer = "\n--\nsisters-team mailing list\nhttps://lists.segovia.example.es/sisters-team\n"
        return plain(f"Segovia team <{LIST}>", LIST, f"[sisters-team] {m.subject}", m.text + footer)

    got = loop(p, LIST, repost)
    assert [m.subject for m in got] == [
        "Biblioteca Municipal de Segovia is now on the Sister Libraries list"
    ]
    assert p.library("Biblioteca Municipal de Segovia").state == "seeking"
    with p.services.db.unit_of_work() as s:
        codes = s.scalars(select(MessageFacts.outcome_code).order_by(MessageFacts.id)).all()
        staff_mail = s.scalars(select(Outbox).where(Outbox.template.like("staff-%"))).all()
    # The application, the list's answer to the confirmation mail (the harness's), then reposts.
    assert codes[:2] == ["application", "event"] and set(codes[2:]) == {"own-mail"}
    assert not staff_mail  # our own mail coming back is nobody's work
    nothing_lost(p)


def test_a_library_auto_answering_while_incomplete_gets_at_most_three_mails(
    program: ProgramUnderTest,
) -> None:
    p = program
    p.send(
        mail(
            sender=f"John Mwangi <{NAIROBI}>", subject="Application", body=APPLICATION_MISSING_CITY
        ),
        sender=NAIROBI,
    )
    p.step()
    # The auto-answer signs off with the library's details, so each one reads as the
    # (still incomplete) form again: before the limits, a "details missing" mail every time.
    # It is worded as no responder the parser knows ("Your message has been received" is
    # read as an automatic reply and never answered): the limits must stop it.
    answer = (
        "Thanks for writing to us. We will get back to you within three working days."
        "\n\nLibrary name: Nairobi Community Library\n"
        "Type of library: public\nCountry: Kenya\nContact person: John Mwangi\n"
    )
    got = loop(p, NAIROBI, lambda m: plain(NAIROBI, m.reply_to, f"RE: {m.subject}", answer))
    assert 1 <= len(got) <= 3, [m.subject for m in got]
    assert p.library("Nairobi Community Library").state == "incomplete"
    assert suppressed(p, NAIROBI)
    with p.services.db.unit_of_work() as s:
        notices = s.scalars(select(Outbox).where(Outbox.template == "staff-needs-person")).all()
    assert len(notices) <= 5
    nothing_lost(p)


def test_a_flooding_address_is_held_and_coordinators_are_told_once(
    program: ProgramUnderTest,
) -> None:
    p = program
    flood = "bot@flood.example"
    for i in range(14):
        p.send(mail(sender=flood, subject=f"question {i}", body=f"What is {i}?"), sender=flood)
        p.step()
    mails = p.new_mail()
    assert len(for_address(mails, flood)) == 1  # the not-understood answer, once a day
    notices = [m for m in for_address(mails, STAFF) if "held" in m.text]
    assert len(notices) == 1
    with p.services.db.unit_of_work() as s:
        items = s.scalars(select(AttentionItem).where(AttentionItem.code == "sender-held")).all()
        outcomes = s.scalars(select(MessageFacts.outcome).order_by(MessageFacts.id)).all()
    assert len(items) == 1 and items[0].data == {"address": flood}
    assert [o.endswith("sender held") for o in outcomes] == [False] * 10 + [True] * 4
    nothing_lost(p)


def test_needs_person_notices_faster_than_the_rate_go_into_the_digest(
    program: ProgramUnderTest,
) -> None:
    p = program
    for i in range(8):
        sender = f"stranger{i}@elsewhere.example"
        p.send(mail(sender=sender, subject="hm", body=f"Note number {i}"), sender=sender)
    p.step()
    assert len(for_address(p.new_mail(), STAFF)) == 5
    assert suppressed(p, "(staff)") == ["batched into the digest"] * 3
    with p.services.db.unit_of_work() as s:
        items = s.scalars(select(AttentionItem).where(AttentionItem.resolved_at.is_(None))).all()
    assert len(items) == 8  # every one is open, so the digest lists it
    nothing_lost(p)
    p.clock.advance(timedelta(days=1))
    assert p.runtime.digest()
    p.step()
    (digest,) = for_address(p.new_mail(), STAFF)
    listed = {int(n) for n in re.findall(r"^- #(\d+) from ", digest.text, flags=re.M)}
    assert listed == {i.id for i in items}


def test_our_token_in_the_body_is_not_a_new_application(program: ProgramUnderTest) -> None:
    p = program
    p.send(application(1), sender=SEGOVIA)
    p.step()
    (ack,) = p.new_mail()
    forwarded = f"---------- Forwarded message ----------\nReply-To: {ack.reply_to}\n\n{ack.text}"
    other = "someone@else.example"
    p.send(mail(sender=other, subject="Fwd: " + ack.subject, body=forwarded), sender=other)
    p.step()
    with p.services.db.unit_of_work() as s:
        facts = s.scalars(select(MessageFacts).order_by(MessageFacts.id)).all()
    assert facts[-1].outcome_code == "own-mail", facts[-1].outcome
    assert "reply token" in facts[-1].outcome
