"""The acknowledgement's promise: "reply to confirm". A new application is neither listed nor
matched until its address answers; a forged answer does nothing; an address that never answers
gets no second mail.

Real parts: mail in through mailflow's SMTP endpoint and the Dovecot mailbox, mail out through an
aiosmtpd sink, both databases (rules/library.yaml `unconfirmed`, guard `address-proven`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.report.data import public_data
from mailflow.store.schema import AttentionItem, MessageFacts
from tests.helpers import APPLICATION_EN, application, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

APPLICANTS = {
    "en": ("maria1@biblioteca.example.es", "Biblioteca Municipal de Segovia"),
    "zh": ("wangli2@library.example.cn", "杭州市西湖区图书馆"),
}
# What the mail asks for, and what the applicant writes back (the words the mail names).
ASKED = {"en": ('reply to this email with "yes"', "Yes, I confirm."), "zh": ("“确认”", "确认")}


@pytest.fixture
def p(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    sink = SmtpSink().start()
    program = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path, auto_confirm=False)
    yield program
    program.close()
    sink.stop()


def apply(p: ProgramUnderTest, lang: str) -> Sent:
    """The application over SMTP; returns the one mail it gets: the confirmation request."""
    address, _ = APPLICANTS[lang]
    n = 1 if lang == "en" else 2
    p.send(application(n, lang=lang, public=True), sender=address)
    p.step()
    mails = p.new_mail()
    assert [m.to for m in mails] == [(address,)], [(m.to, m.subject) for m in mails]
    return mails[0]


def state(p: ProgramUnderTest, lang: str) -> str:
    return p.library(APPLICANTS[lang][1]).state


def listed_names(p: ProgramUnderTest) -> set[str]:
    with p.services.db.unit_of_work() as s:
        data = public_data(s, p.services.workflow.machines["library"].tagged("listed"))
    return {lib["name"] for country in data["countries"] for lib in country["libraries"]}


def last_outcome(p: ProgramUnderTest) -> tuple[str, str]:
    with p.services.db.unit_of_work() as s:
        row = s.scalars(select(MessageFacts).order_by(MessageFacts.id.desc())).first()
        assert row is not None
        return row.outcome_code or "", row.outcome or ""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_reply_to_confirm_lists_the_library_and_a_forged_answer_does_nothing(
    p: ProgramUnderTest, lang: str
) -> None:
    address, name = APPLICANTS[lang]
    ask = apply(p, lang)
    asked, answer = ASKED[lang]
    assert asked in ask.text and name in ask.text
    assert "+l" in ask.reply_to  # the library's own token: a reply proves the mailbox
    assert state(p, lang) == "unconfirmed"
    assert name not in listed_names(p)
    assert p.runtime.match(dry_run=True) == []

    # Forged: the applicant's address on a new mail (no token, answers nothing of ours).
    p.send(mail(sender=address, subject="Re: confirm", body=answer), sender=address)
    # Forged: someone else answering the confirmation mail with its token.
    p.send(reply(ask, "attacker@evil.example", answer, to=ask.reply_to))
    p.step()
    assert state(p, lang) == "unconfirmed" and name not in listed_names(p)
    out = p.new_mail()
    assert not for_address(out, address) and not for_address(out, "attacker@evil.example")

    # The applicant answers the mail, through the mailbox: listed, and acknowledged.
    p.deliver(reply(ask, address, answer, client="qq" if lang == "zh" else "gmail"))
    p.step()
    assert state(p, lang) == "seeking"
    assert name in listed_names(p)
    (ack,) = for_address(p.new_mail(), address)
    assert "Sister Libraries list" in ack.subject or "寻找姐妹图书馆" in ack.subject
    assert last_outcome(p)[0] == "event"


def test_an_unconfirmed_library_is_never_matched_and_a_confirmed_one_is(
    p: ProgramUnderTest,
) -> None:
    asks = {lang: apply(p, lang) for lang in ("en", "zh")}
    assert p.runtime.match(dry_run=True) == []
    assert "0 library(ies) can be matched" in p.runtime.why_no_pair()
    address, _ = APPLICANTS["en"]
    p.send(reply(asks["en"], address, "Yes, I confirm."))
    p.step()
    assert p.runtime.match(dry_run=True) == []  # one confirmed library is no pair
    address, _ = APPLICANTS["zh"]
    p.send(reply(asks["zh"], address, "同意", client="qq"))
    p.step()
    (pair,) = p.runtime.match(dry_run=True)
    assert pair is not None


def test_an_address_that_never_answers_gets_one_mail_and_lapses(p: ProgramUnderTest) -> None:
    address, name = APPLICANTS["en"]
    apply(p, "en")
    # Every further form "from" the address (a forger's, or a resend) changes and sends nothing.
    p.send(application(1).replace(b"City: Segovia", b"City: Hacked by attacker"), sender=address)
    p.step()
    assert p.new_mail() == []
    assert p.library(name).city == "Segovia"
    # A forged withdrawal is not asked about by mail either: the address had its one mail.
    p.send(mail(sender=address, subject="withdraw", body="Please withdraw us."), sender=address)
    p.step()
    assert state(p, "en") == "unconfirmed" and last_outcome(p)[0] == "unconfirmed"
    p.advance(days=29)
    assert p.new_mail() == [] and state(p, "en") == "unconfirmed"  # no reminder
    p.advance(days=2)
    assert state(p, "en") == "lapsed"
    assert p.new_mail() == [] and name not in listed_names(p)
    with p.services.db.unit_of_work() as s:
        items = s.scalars(select(AttentionItem.code)).all()
    assert "unconfirmed" not in items  # nothing for staff to do about silence


def contacts(p: ProgramUnderTest, name: str) -> dict[str, str]:
    return {c.email: c.status for c in p.library(name).contacts}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_address_named_in_a_form_gets_one_mail_and_becomes_the_contact_only_if_it_answers(
    p: ProgramUnderTest, lang: str
) -> None:
    address, name = APPLICANTS[lang]
    ask = apply(p, lang)
    p.send(reply(ask, address, ASKED[lang][1]))
    p.step()
    (ack,) = p.new_mail()
    third = "victim@elsewhere.example"
    line = f"Contact email: {third}" if lang == "en" else f"联系邮箱：{third}"
    # The library's own reply names a third party's address, twice.
    for _ in range(2):
        p.send(reply(ack, address, f"{line}\n"), sender=address)
        p.step()
    (question,) = p.new_mail()  # one mail to the named address, nothing else
    assert question.to == (third,)
    assert ("new Sister Libraries contact" in question.subject) or (
        "新的姐妹图书馆联系人" in question.subject
    )
    assert contacts(p, name) == {address: "ok", third: "unconfirmed"}
    # Someone else answering with its token does nothing.
    p.send(reply(question, "attacker@evil.example", "yes", to=question.reply_to))
    p.step()
    assert contacts(p, name) == {address: "ok", third: "unconfirmed"}
    # The named address answers in time: now it is the contact, the old one is kept as former.
    p.send(reply(question, third, "同意" if lang == "zh" else "Yes, I confirm."))
    p.step()
    assert contacts(p, name) == {address: "former", third: "ok"}
    # The library's next mail goes to it alone.
    p.advance(days=182)
    later = [m.to for m in p.new_mail() if m.to != ("coordinator@program.example",)]
    assert later == [(third,)]


def test_a_named_address_that_answers_too_late_changes_nothing(p: ProgramUnderTest) -> None:
    address, name = APPLICANTS["en"]
    ask = apply(p, "en")
    p.send(reply(ask, address, "Yes, I confirm."))
    p.step()
    (ack,) = p.new_mail()
    third = "victim@elsewhere.example"
    p.send(reply(ack, address, f"Contact email: {third}\n"), sender=address)
    p.step()
    (question,) = p.new_mail()
    # Until it answers, the library's mail still goes to the address that applied.
    p.advance(days=182)
    later = [m.to for m in p.new_mail() if m.to != ("coordinator@program.example",)]
    assert later == [(address,)]
    p.send(reply(question, third, "Yes, I confirm."))
    p.step()
    assert contacts(p, name) == {address: "ok", third: "unconfirmed"}


def test_one_address_for_two_branches_each_told_apart_by_its_token(p: ProgramUnderTest) -> None:
    address, first = APPLICANTS["en"]
    ask = apply(p, "en")
    p.send(reply(ask, address, "Yes, I confirm."))
    p.step()
    p.new_mail()
    # The same librarian applies for a second branch: a library of its own, never a rewrite.
    branch = "Biblioteca Municipal de Segovia, Rama Norte"
    body = (
        APPLICATION_EN.replace("maria@", "maria1@")
        .replace("Library name: Biblioteca Municipal de Segovia", f"Library name: {branch}")
        .replace("City: Segovia", "City: Segovia Norte")
    )
    p.send(mail(sender=f"Maria Lopez <{address}>", body=body), sender=address)
    p.step()
    (second_ask,) = p.new_mail()
    assert branch in second_ask.text and p.library(branch).state == "unconfirmed"
    assert (p.library(first).name, p.library(first).city) == (first, "Segovia")
    assert contacts(p, first) == contacts(p, branch) == {address: "ok"}
    p.send(reply(second_ask, address, "Yes, I confirm."))
    p.step()
    (branch_ack,) = p.new_mail()
    assert p.library(branch).state == "seeking" and p.library(first).state == "seeking"
    # A correction answering the branch's mail changes the branch only.
    p.send(reply(branch_ack, address, "City: Segovia Norte II"))
    p.step()
    assert (p.library(branch).city, p.library(first).city) == ("Segovia Norte II", "Segovia")
    # Without a token, which library is meant is for a person to say: nothing changes.
    p.send(mail(sender=address, subject="correction", body="City: Madrid"), sender=address)
    p.step()
    assert "contact of libraries" in last_outcome(p)[1]
    assert {p.library(branch).city, p.library(first).city} == {"Segovia Norte II", "Segovia"}
    # The branch withdraws with its own token: the first library stays.
    p.send(reply(branch_ack, address, "withdraw"))
    p.step()
    assert (p.library(branch).state, p.library(first).state) == ("withdrawn", "seeking")
