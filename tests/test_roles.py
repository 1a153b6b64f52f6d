"""Only staff act as staff, each in their role, and only a library speaks for itself.

Through the real pipeline (mail in over SMTP or IMAP, mail out to the sink, the database read
back, SQLite and PostgreSQL), in English and Chinese:
- a library's token used for a staff verb moves nothing; a partner accepting with the other
  side's token moves nothing;
- staff have roles: a mentor's `close` is refused while a coordinator's works; mentors resume and
  note their own partnerships; every coordinator gets the digest; the mentor is in copy of the
  introduction by name;
- a withdrawal, acceptance or decline without the library's token asks the contact first; only
  its confirmation acts; a genuine withdrawal with its token acts at once; staff re-open it.
"""

from __future__ import annotations

import email
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.parse.tokens import parse_ref
from mailflow.report.data import dashboard_data
from mailflow.store.schema import (
    ContactConfirmation,
    History,
    MessageFacts,
    Outbox,
    Partnership,
)
from tests.helpers import STAFF, TRUSTED_MX, application, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink
from tests.test_promises_partnership import Pair, offer, one, sent_before

DIRECTOR = "director@program.example"
ANA = "ana@program.example"  # a mentor who speaks Chinese (and Spanish)
BEN = "ben@program.example"  # a mentor for French only
MEMBERS = (
    f"Coordinator <{STAFF}> coordinator; Dora Director <{DIRECTOR}> coordinator en;"
    f" Ana Mentor <{ANA}> mentor zh es; Ben Mentor <{BEN}> mentor fr"
)
ATTACKER = "attacker@evil.example"


@pytest.fixture
def start(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[Callable[..., ProgramUnderTest]]:
    made: list[tuple[ProgramUnderTest, SmtpSink]] = []

    def make(**kwargs: str) -> ProgramUnderTest:
        sink = SmtpSink().start()
        made.append(
            (ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path, **kwargs), sink)
        )
        return made[-1][0]

    yield make
    for p, sink in made:
        p.close()
        sink.stop()


def outcome(p: ProgramUnderTest) -> tuple[str, str]:
    with p.services.db.unit_of_work() as s:
        row = s.scalars(select(MessageFacts).order_by(MessageFacts.id.desc())).first()
        assert row is not None
        return row.outcome_code, row.outcome


def events(p: ProgramUnderTest, kind: str, rid: int) -> list[str]:
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(History.event)
            .where(History.record_type == kind, History.record_id == rid)
            .order_by(History.id)
        )
        return list(rows)


def ref_of(sent: Sent) -> str:
    return sent.reply_to.partition("+")[2].partition(".")[0]


# -- tokens: a library's is never a staff member's, and names its own side --------------------------
def test_library_tokens_name_their_side_and_never_grant_a_staff_verb(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    (pair,), offers = offer(p, 1)
    en, zh = offers[pair.en], offers[pair.zh]
    lib_en, lib_zh = p.library("Biblioteca Municipal de Segovia"), p.library("杭州市西湖区图书馆")
    assert ref_of(en) == f"p{pair.pid}l{lib_en.id}" and ref_of(zh) == f"p{pair.pid}l{lib_zh.id}"
    proposal = sent_before(p, "staff-proposal", pair.pid)
    staff_ref = parse_ref(ref_of(proposal))
    assert staff_ref is not None and staff_ref.staff and staff_ref.id == pair.pid

    # An authenticated coordinator answering a library's offer (forwarded to them): a library
    # token names no record for a staff verb, in either language.
    for original, verb in ((en, "close"), (zh, "关闭")):
        p.send(reply(original, STAFF, verb, to=original.reply_to))
        p.step()
        assert p.partnership(pair.pid).state == "offered"
        code, text = outcome(p)
        assert code == "staff-answer" and "a library's, not yours" in text
    assert "staff-close" not in events(p, "partnership", pair.pid)
    (answer, _) = for_address(p.new_mail(), STAFF)
    assert "a library's" in answer.text

    # A partner answering with the other side's token speaks for neither (en and zh).
    p.send(reply(en, pair.wangli, "好的，我们同意。", client="qq"))
    p.send(reply(zh, pair.maria, "Yes, we accept!"))
    p.step()
    assert p.partnership(pair.pid).state == "offered"
    assert "accept" not in events(p, "partnership", pair.pid)
    assert outcome(p)[0] == "needs-person"
    mails = p.new_mail()
    assert not for_address(mails, pair.en) and not for_address(mails, pair.zh)

    # Each side with its own token: the partnership goes ahead.
    p.send(reply(en, pair.maria, "Yes, we accept!"))
    p.send(reply(zh, pair.wangli, "好的，我们同意。", client="qq"))
    p.step()
    assert p.partnership(pair.pid).state == "trial"


# -- roles -----------------------------------------------------------------------------------------
def test_mentors_resume_and_note_their_own_partnerships_and_only_coordinators_close(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start(MAILFLOW_STAFF_MEMBERS=MEMBERS)
    (pair,), _ = offer(p, 1)
    assert p.partnership(pair.pid).mentor == ANA  # speaks Chinese: fits Hangzhou; Ben fits none
    p.advance(days=22)  # the offer lapses: the escalation goes to the mentor, not coordinators
    (escalation,) = for_address(p.new_mail(), ANA)
    assert p.partnership(pair.pid).state == "lapsed"
    with p.services.db.unit_of_work() as s:
        sent = s.scalars(select(Outbox.recipients).where(Outbox.template == "staff-escalation"))
        assert list(sent) == [[ANA]]

    p.send(reply(escalation, f"Ana Mentor <{ANA}>", "close", authenticated=True))
    p.step()
    assert p.partnership(pair.pid).state == "lapsed"
    code, text = outcome(p)
    assert code == "staff-answer" and "only a coordinator" in text
    (refused,) = p.new_mail()
    assert refused.to == (ANA,)

    p.send(reply(escalation, f"Ana Mentor <{ANA}>", "备注 已经打电话给杭州", authenticated=True))
    p.step()
    assert outcome(p)[0] == "staff-command"
    p.send(reply(escalation, f"Ana Mentor <{ANA}>", "恢复", authenticated=True))
    p.step()
    assert p.partnership(pair.pid).state == "offered"
    p.new_mail()

    # Another mentor may not touch it, even with an authenticated mail naming it.
    p.send(
        mail(sender=f"Ben <{BEN}>", subject="x", body=f"mentor p{pair.pid} Ben", authenticated=True)
    )
    p.step()
    assert outcome(p)[0] == "staff-answer" and p.partnership(pair.pid).mentor == ANA

    # A coordinator names the mentor, then closes it from an authenticated mail.
    p.send(mail(sender=DIRECTOR, subject="x", body=f"mentor p{pair.pid} Ben", authenticated=True))
    p.step()
    assert p.partnership(pair.pid).mentor == BEN and outcome(p)[0] == "staff-command"
    # Dora answers her own copy of the proposal (Chinese spelling of close).
    proposal = sent_for(p, "staff-proposal", pair.pid, DIRECTOR)
    p.send(reply(proposal, DIRECTOR, "关闭", authenticated=True))
    p.step()
    assert p.partnership(pair.pid).state == "closed"
    assert events(p, "partnership", pair.pid)[-1] == "staff-close"


def sent_for(p: ProgramUnderTest, template: str, pid: int, address: str) -> Sent:
    """The last `template` mail about #pid that went to `address`."""
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(Outbox).where(
                Outbox.template == template, Outbox.record_type == "partnership",
                Outbox.record_id == pid,
            ).order_by(Outbox.id.desc())
        )  # fmt: skip
        raw = next(r.raw for r in rows if address in r.recipients)
    return Sent((address,), email.message_from_bytes(raw, policy=default))


def test_every_coordinator_gets_proposals_and_the_digest_and_the_mentor_is_in_copy_by_name(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start(MAILFLOW_STAFF_MEMBERS=MEMBERS)
    p.deliver(application(1))
    p.deliver(application(2, lang="zh"))
    p.step()
    p.new_mail()
    pair = Pair(1)
    p.deliver(mail(sender=STAFF, subject="pair", body=f"pair {pair.en} with {pair.zh}"))
    p.step()
    proposals = p.new_mail()
    assert sorted(m.to for m in proposals) == sorted([(STAFF,), (DIRECTOR,)])  # no mentor
    # Each coordinator's proposal carries a token of their own: neither answers for the other.
    refs = {m.to[0]: parse_ref(ref_of(m)) for m in proposals}
    assert refs[STAFF] != refs[DIRECTOR] and all(r is not None and r.staff for r in refs.values())
    director_proposal = one(proposals, DIRECTOR)
    p.send(reply(director_proposal, STAFF, "approve", authenticated=True))
    p.step()
    assert "sent to another staff member" in outcome(p)[1]
    p.send(reply(director_proposal, DIRECTOR, "批准", authenticated=True))
    p.step()
    offers = {m.to[0]: m for m in p.new_mail() if m.to[0] in (pair.en, pair.zh)}
    p.send(reply(offers[pair.en], pair.maria, "Yes, we accept!"))
    p.send(reply(offers[pair.zh], pair.wangli, "好的，我们同意。", client="qq"))
    p.step()
    intro = one(p.new_mail(), pair.en)
    assert ANA in intro.to and "Ana Mentor <ana@program.example>" in str(intro.msg["Cc"])

    assert p.runtime.digest()
    p.step()  # the drainer sends it
    digests = [m for m in p.new_mail() if "digest" in m.subject.lower()]
    assert sorted(m.to for m in digests) == sorted([(STAFF,), (DIRECTOR,)])


# -- libraries speak only for themselves --------------------------------------------------------
def test_a_forged_withdrawal_asks_the_contact_and_only_its_confirmation_withdraws(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    p.deliver(application(1))
    p.deliver(application(2, lang="zh"))
    p.step()
    acks = p.new_mail()
    pair = Pair(1)
    segovia, hangzhou = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"

    # Forged: the contact's address, no token, no authentication, a Reply-To to the attacker.
    forged_en = mail(sender=pair.maria, subject="withdraw", body="Please withdraw us.",
                     headers={"Reply-To": ATTACKER})  # fmt: skip
    forged_zh = mail(sender=pair.wangli, subject="退出", body="我们要退出这个项目。",
                     headers={"Reply-To": ATTACKER})  # fmt: skip
    p.send(forged_en)
    p.send(forged_zh)
    p.step()
    assert p.library(segovia).state == p.library(hangzhou).state == "seeking"
    assert outcome(p)[0] == "unconfirmed"
    mails = p.new_mail()
    assert not for_address(mails, ATTACKER)
    ask_en, ask_zh = one(mails, pair.en), one(mails, pair.zh)
    assert ask_en.subject.startswith("Did you write to take") and '"yes"' in ask_en.subject
    assert "退出" in ask_zh.subject and "是" in ask_zh.subject

    # The forger cannot confirm: no token of the confirmation; a yes from elsewhere is refused.
    p.send(reply(ask_en, ATTACKER, "yes"))
    p.send(
        mail(sender=pair.maria, subject="Re: withdraw", body="yes", headers={"Reply-To": ATTACKER})
    )
    p.step()
    assert p.library(segovia).state == "seeking"
    assert not for_address(p.new_mail(), ATTACKER)

    # The contact confirms: withdrawn, once.
    p.send(reply(ask_en, pair.maria, "Yes, confirm."))
    p.send(reply(ask_zh, pair.wangli, "是的，确认。", client="qq"))
    p.step()
    assert p.library(segovia).state == p.library(hangzhou).state == "withdrawn"
    with p.services.db.unit_of_work() as s:
        assert all(c.used_at is not None for c in s.scalars(select(ContactConfirmation)))
        # The staff dashboard counts the two forged withdrawals that were held.
        summary = dashboard_data(s, p.services.workflow.machines, p.clock.now())["summary"]
        assert summary["unauthenticated"] == 2
    p.new_mail()
    p.send(reply(ask_en, pair.maria, "yes"))  # replayed
    p.step()
    assert outcome(p)[0] == "needs-person" and "used already" in outcome(p)[1]

    # Staff re-open them (a coordinator, authenticated; en and zh spellings).
    lib_en, lib_zh = p.library(segovia), p.library(hangzhou)
    p.send(mail(sender=STAFF, subject="reopen", body=f"reopen l{lib_en.id}"))
    p.send(mail(sender=STAFF, subject="重新开放", body=f"重新开放 l{lib_zh.id}"))
    p.step()
    assert p.library(segovia).state == p.library(hangzhou).state == "seeking"
    assert events(p, "library", lib_en.id)[-1] == "staff-reopen"
    relisted = p.new_mail()
    assert for_address(relisted, pair.en) and for_address(relisted, pair.zh)

    # A genuine withdrawal with the library's own token acts at once (its acknowledgement).
    ack_en = one(acks, pair.en)
    assert ref_of(ack_en) == f"l{lib_en.id}"
    p.send(reply(ack_en, pair.maria, "Please withdraw our library from the program."))
    p.step()
    assert p.library(segovia).state == "withdrawn" and outcome(p)[0] == "event"


def test_an_acceptance_without_the_token_waits_for_confirmation_and_an_authenticated_one_acts(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    (pair,), offers = offer(p, 1)
    # The next day: the confirmation of its application, its acknowledgement and the offer were
    # today's three automatic mails (limits.mails_per_address_per_day) to the library.
    p.clock.advance(timedelta(days=1))
    # A yes that only threads by In-Reply-To (the Reply-To token dropped): asked first.
    no_token = reply(
        offers[pair.zh], pair.wangli, "好的，我们同意。", client="qq", to="sisters@program.example"
    )
    p.send(no_token)
    p.step()
    assert outcome(p)[0] == "unconfirmed" and "accept" not in events(p, "partnership", pair.pid)
    (ask,) = p.new_mail()
    assert ask.to == (pair.zh,) and "同意" in ask.subject
    p.send(reply(ask, pair.wangli, "确认", client="qq"))
    p.step()
    assert events(p, "partnership", pair.pid)[-1] == "accept"
    with p.services.db.unit_of_work() as s:
        partnership = s.get(Partnership, pair.pid)
        assert partnership is not None and partnership.state == "offered"
    # The other side, authenticated by its own domain's DMARC through the trusted host: acts.
    verdict = (
        f"Authentication-Results: {TRUSTED_MX}; dmarc=pass header.from=biblioteca.example.es\r\n"
    )
    raw = reply(offers[pair.en], pair.maria, "Yes, we accept!", to="sisters@program.example")
    p.send(verdict.encode() + raw)
    p.step()
    assert p.partnership(pair.pid).state == "trial"


def test_a_token_verifies_only_in_its_own_namespace() -> None:
    from mailflow.parse import parse_message
    from mailflow.parse.tokens import make_token, member_tag, staff_key, staff_ref

    secret = b"s" * 32
    staff = staff_ref("p12", STAFF, 20600)
    assert parse_ref(staff) == parse_ref(f"p12s{member_tag(STAFF)}e20600")
    assert parse_ref("p12l7") is not None and parse_ref("p12l7").side == 7  # type: ignore[union-attr]
    assert parse_ref("l7l3") is None and parse_ref("x1") is None

    def token_of(token: str) -> tuple[str | None, bool]:
        raw = mail(sender=STAFF, to=f"sisters+{token}@program.example", subject="x", body="hi")
        facts = parse_message(raw, program_address="sisters@program.example", secret=secret)
        return facts.token, facts.token_forged

    good_staff, good_library = make_token(staff_key(secret), staff), make_token(secret, "p12l7")
    assert token_of(good_staff) == (good_staff, False)
    assert token_of(good_library) == (good_library, False)
    # The same refs signed under the other namespace's key are forgeries.
    assert token_of(make_token(secret, staff)) == (None, True)
    assert token_of(make_token(staff_key(secret), "p12l7")) == (None, True)
