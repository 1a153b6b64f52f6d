"""Issue 3, the paths that are not happy: declines, silence, bounces, away messages, forgeries."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mailflow.store.schema import DeclinedPair, MessageFacts, Outbox, Suppressed
from tests.helpers import STAFF, application, bounce_for, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply

SEGOVIA, HANGZHOU = "maria1@biblioteca.example.es", "wangli2@library.example.cn"
SEGOVIA_NAME, HANGZHOU_NAME = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"


def offered(p: ProgramUnderTest) -> tuple[Sent, Sent]:
    """Two seeking libraries, paired and approved: returns (Segovia's offer, Hangzhou's offer)."""
    p.deliver(application(1))
    p.deliver(application(2, lang="zh"))
    p.step()
    p.deliver(mail(sender=STAFF, subject="pair", body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}"))
    p.step()
    (proposal,) = for_address(p.new_mail(), STAFF)
    p.deliver(reply(proposal, STAFF, "approve", client="outlook"))
    p.step()
    mails = p.new_mail()
    (en,), (zh,) = for_address(mails, SEGOVIA), for_address(mails, HANGZHOU)
    assert p.partnership(1).state == "offered"
    return en, zh


def test_a_decline_is_never_shown_to_the_other_side(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    p.deliver(reply(en, SEGOVIA, "Yes please!", client="gmail"))
    p.deliver(reply(zh, HANGZHOU, "不用了，谢谢。", client="qq"))
    p.step()
    mails = p.new_mail()
    closed_en, closed_zh = for_address(mails, SEGOVIA), for_address(mails, HANGZHOU)
    assert len(closed_en) == len(closed_zh) == 1
    assert "declin" not in closed_en[0].text.lower() and "拒绝" not in closed_en[0].text
    assert p.partnership(1).state == "declined"
    assert p.library(SEGOVIA_NAME).state == p.library(HANGZHOU_NAME).state == "seeking"
    with p.services.db.unit_of_work() as s:
        assert s.scalars(select(DeclinedPair)).one()
    # The pair is never proposed again, even by staff.
    p.deliver(
        mail(sender=STAFF, subject="pair again", body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}")
    )
    p.step()
    (refusal,) = p.new_mail()
    assert refusal.to == (STAFF,) and "never proposed again" in refusal.text


def test_silence_reminds_at_7_and_14_days_and_lapses_at_21(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    p.deliver(reply(zh, HANGZHOU, "同意", client="qq"))  # one side answers, the other stays silent
    p.step()
    p.advance(days=7)
    first = p.new_mail()
    assert [m.to for m in first] == [(SEGOVIA,)]  # only the one who has not answered
    assert first[0].msg["In-Reply-To"] == en.msg["Message-ID"]  # same thread as the offer
    p.advance(days=7)
    assert [m.to for m in p.new_mail()] == [(SEGOVIA,)]
    p.advance(days=7)
    mails = p.new_mail()
    # The silent side is told the offer lapsed; the side that said yes is told it won't go
    # ahead (never who did not answer); staff are told.
    assert {m.to for m in mails} == {(SEGOVIA,), (STAFF,), (HANGZHOU,)}
    assert "lapsed" in for_address(mails, STAFF)[0].text
    (closed_zh,) = for_address(mails, HANGZHOU)
    assert "这次介绍暂时无法进行" in closed_zh.text
    assert not any(w in closed_zh.text for w in ("拒绝", "没有回复", "未回复", "没有答复"))
    assert p.partnership(1).state == "lapsed"
    p.advance(days=7)
    assert p.new_mail() == []  # no more reminders once lapsed


def test_out_of_office_is_not_an_answer_and_holds_reminders_until_the_return_date(
    program: ProgramUnderTest,
) -> None:
    p = program
    en, zh = offered(p)
    away = mail(
        sender=f"Maria Lopez <{SEGOVIA}>",
        to=en.reply_to,
        subject=f"Automatic reply: {en.subject}",
        body="I am out of the office until 10 December 2026 with no access to e-mail.",
        headers={
            "Auto-Submitted": "auto-replied",
            "X-Auto-Response-Suppress": "All",
            "In-Reply-To": str(en.msg["Message-ID"]),
        },
    )
    p.deliver(away)
    p.step()
    assert p.new_mail() == []  # never answered
    assert p.partnership(1).state == "offered"
    assert p.library(SEGOVIA_NAME).contacts[0].paused_until.date().isoformat() == "2026-12-10"
    p.clock.advance(__import__("datetime").timedelta(days=7))
    p.step()
    assert for_address(p.new_mail(), SEGOVIA) == []  # held: she is away
    p.advance(days=4)  # 10 December: she is back, the reminder goes out
    assert len(for_address(p.new_mail(), SEGOVIA)) == 1


def test_a_bounce_marks_the_contact_and_tells_staff_without_answering(
    program: ProgramUnderTest,
) -> None:
    p = program
    en, zh = offered(p)
    # A real Postfix DSN that returns the offer we sent Segovia (its Message-ID).
    p.deliver(bounce_for(SEGOVIA, str(en.msg["Message-ID"])))
    p.step()
    mails = p.new_mail()
    assert [m.to for m in mails] == [(STAFF,)]
    assert "bounce" in mails[0].text.lower() or "reach" in mails[0].text.lower()
    segovia = p.library(SEGOVIA_NAME)
    assert segovia.contacts[0].status == "failed" and segovia.state == "unreachable"
    p.advance(days=7)  # reminders to an unreachable library are not sent, and say why
    assert for_address(p.new_mail(), SEGOVIA) == []
    with p.services.db.unit_of_work() as s:
        assert any("no reachable contact" in r.reason for r in s.scalars(select(Suppressed)))


def test_forged_tokens_and_strangers_move_nothing_and_go_to_staff(
    program: ProgramUnderTest,
) -> None:
    p = program
    en, zh = offered(p)
    token = en.reply_to.split("+")[1].split("@")[0]
    forged = en.reply_to.replace(token, "p1.aaaaaaaaaa")
    p.deliver(reply(en, SEGOVIA, "Yes!", to=forged))
    p.deliver(
        reply(en, "someone@elsewhere.example", "Yes, sounds great")
    )  # valid token, wrong sender
    p.step()
    mails = p.new_mail()
    assert [m.to for m in mails] == [(STAFF,), (STAFF,)]
    assert "forged" in mails[0].text or "does not verify" in mails[0].text
    assert "neither library" in mails[1].text
    assert p.partnership(1).state == "offered"


def test_a_staff_command_from_a_non_staff_address_moves_nothing(program: ProgramUnderTest) -> None:
    p = program
    p.deliver(application(1))
    p.deliver(application(2, lang="zh"))
    p.step()
    p.deliver(mail(sender=STAFF, subject="pair", body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}"))
    p.step()
    (proposal,) = for_address(p.new_mail(), STAFF)
    p.deliver(reply(proposal, "intruder@elsewhere.example", "approve"))
    p.deliver(
        mail(
            sender="intruder@elsewhere.example",
            subject="pair",
            body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}",
        )
    )
    p.step()
    assert p.partnership(1).state == "proposed"
    assert all(m.to in ((STAFF,), ("intruder@elsewhere.example",)) for m in p.new_mail())


def test_could_not_understand_is_answered_once_a_day(program: ProgramUnderTest) -> None:
    p = program
    for n in range(3):
        p.deliver(
            mail(
                sender="reader@town.example",
                subject=f"hello {n}",
                body="What are your opening hours?",
            )
        )
        p.step()
    mails = p.new_mail()
    assert len(for_address(mails, "reader@town.example")) == 1
    assert len(for_address(mails, STAFF)) == 3  # every one still reaches a person
    p.advance(days=1, hours=1)
    p.deliver(
        mail(sender="reader@town.example", subject="hello again", body="Are you open on Sunday?")
    )
    p.step()
    assert len(for_address(p.new_mail(), "reader@town.example")) == 1


# -- Issue 8: only a library speaks for itself (bounces, away messages, our own mark, old tokens) --
def last_outcome(p: ProgramUnderTest) -> tuple[str, str]:
    with p.services.db.unit_of_work() as s:
        facts = s.scalars(select(MessageFacts).order_by(MessageFacts.id.desc())).first()
        assert facts is not None
        return facts.outcome_code, facts.outcome


def test_a_bounce_counts_only_when_it_returns_a_mail_we_sent(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    # A forged delivery-failure notice, sent like any mail to the SMTP endpoint: it names
    # Segovia's address but returns no mail of ours.
    p.send(bounce_for(SEGOVIA, "20261130.4711@attacker.example"), sender="")
    p.step()
    assert p.new_mail() == []
    segovia = p.library(SEGOVIA_NAME)
    assert segovia.contacts[0].status == "ok" and segovia.state != "unreachable"
    code, text = last_outcome(p)
    assert code == "bounce" and "refers to no mail we sent" in text
    # A report that returns a mail we sent to someone else cannot fail Segovia either.
    p.send(bounce_for(SEGOVIA, str(zh.msg["Message-ID"])), sender="")
    p.step()
    assert p.library(SEGOVIA_NAME).contacts[0].status == "ok"
    assert "did not go to" in last_outcome(p)[1]
    # The real one returns the offer we sent her: the address is dead, the library unreachable.
    p.send(bounce_for(SEGOVIA, str(en.msg["Message-ID"])), sender="")
    p.step()
    segovia = p.library(SEGOVIA_NAME)
    assert segovia.contacts[0].status == "failed" and segovia.state == "unreachable"
    assert [m.to for m in p.new_mail()] == [(STAFF,)]


def test_a_content_rejection_fails_the_mail_not_the_address(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    refused = bounce_for(SEGOVIA, str(en.msg["Message-ID"]), status=b"5.7.1").replace(
        b"User unknown in local recipient table", b"Message content rejected as spam"
    )
    p.send(refused, sender="")
    p.step()
    segovia = p.library(SEGOVIA_NAME)
    assert segovia.contacts[0].status == "ok" and segovia.state != "unreachable"
    with p.services.db.unit_of_work() as s:
        offer = s.scalar(
            select(Outbox).where(Outbox.message_id == en.msg["Message-ID"].strip("<>"))
        )
        assert offer is not None and offer.status == "failed" and "5.7.1" in offer.last_error
    (notice,) = p.new_mail()  # staff are told, without the refused mail's words
    assert notice.to == (STAFF,) and "5.7.1" in notice.text
    offer_lines = [ln for ln in en.text.splitlines() if len(ln.strip()) > 40]
    assert offer_lines and not any(ln.strip() in notice.text for ln in offer_lines)
    # The same at DATA: the relay refuses the reminder's content (554 5.7.1); the address lives.
    p.sink.fail_data(554, times=1, containing=SEGOVIA.encode())
    p.advance(days=7)
    p.step()  # the staff notice, queued when the reminder was refused
    assert p.library(SEGOVIA_NAME).contacts[0].status == "ok"
    mails = p.new_mail()
    assert any("refused the content" in m.text for m in for_address(mails, STAFF))


def test_an_out_of_office_pauses_for_at_most_60_days_and_a_reply_lifts_it(
    program: ProgramUnderTest,
) -> None:
    p = program
    en, zh = offered(p)
    away = mail(
        sender=f"Maria Lopez <{SEGOVIA}>",
        to=en.reply_to,
        subject=f"Automatic reply: {en.subject}",
        body="I am out of the office until 1 March 2031 with no access to e-mail.",
        headers={"Auto-Submitted": "auto-replied", "In-Reply-To": str(en.msg["Message-ID"])},
    )
    p.deliver(away)
    p.step()
    paused = p.library(SEGOVIA_NAME).contacts[0].paused_until
    assert paused is not None and paused == p.clock.now() + timedelta(days=60)
    assert "capped" in last_outcome(p)[1]
    # She writes back herself: she is there, the pause is lifted at once.
    p.deliver(reply(en, SEGOVIA, "Sorry, I am still thinking about it.", client="gmail"))
    p.step()
    assert p.library(SEGOVIA_NAME).contacts[0].paused_until is None


def test_only_our_signed_origin_mark_drops_a_mail(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    # A library's answer that carries the header by name only is read like any other.
    yes = reply(en, SEGOVIA, "Yes please!", client="gmail")
    p.deliver(b"X-Mailflow-Origin: program.example\r\n" + yes)
    p.step()
    code, text = last_outcome(p)
    assert code == "event" and "accept" in text
    # Our own offer coming back (a forwarding loop) is dropped.
    p.deliver(zh.msg.as_bytes())
    p.step()
    assert last_outcome(p)[0] == "own-mail"


def test_a_token_of_a_record_closed_long_ago_moves_nothing(program: ProgramUnderTest) -> None:
    p = program
    en, zh = offered(p)
    p.deliver(reply(zh, HANGZHOU, "不用了，谢谢。", client="qq"))
    p.step()
    assert p.partnership(1).state == "declined"  # a final state
    p.new_mail()
    p.advance(days=31)  # past program.token_grace_days (30)
    p.new_mail()
    p.deliver(reply(en, SEGOVIA, "Yes please!", client="gmail"))  # the old offer's token
    p.step()
    code, text = last_outcome(p)
    assert code == "needs-person" and "expired" in text
    assert p.partnership(1).state == "declined"
    assert [m.to for m in p.new_mail()] == [(STAFF,)]
