"""Issue 3 end to end: two libraries go from their first mail to a signed MOU, by mail alone.

Real Dovecot in, real aiosmtpd out, SQLite and PostgreSQL, a frozen clock moved between steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow.store.schema import Activity, History, Outbox, Timer
from tests.helpers import STAFF, application, mail
from tests.program import ProgramUnderTest, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

SEGOVIA = "maria1@biblioteca.example.es"
HANGZHOU = "wangli2@library.example.cn"
SEGOVIA_NAME, HANGZHOU_NAME = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"

MOU_EN = """Goals: children's reading and local history exchange
Planned activities: pen pals, exchange of picture books, a joint bulletin board
Primary contacts: Maria Lopez <maria1@biblioteca.example.es>
Working language: English
Communication channel: e-mail and video calls
Frequency: monthly
Start date: 2027-03-01
Duration: two years
Review date: 2028-03-01
Signatory name: Ana Martin
"""
MOU_ZH = """目标：儿童阅读与地方文献交流
计划活动：笔友、交换图画书、联合公告栏
主要联系人：王丽 <wangli2@library.example.cn>
工作语言：英语
沟通渠道：电子邮件
沟通频率：每月
开始日期：2027-03-01
期限：两年
审查日期：2028-03-01
签署人姓名：陈明
签署人职务：馆长
"""


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
def program(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, sink: SmtpSink, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    p = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path)
    yield p
    p.close()


def one(mails: list, address: str):  # noqa: ANN201
    found = for_address(mails, address)
    assert len(found) == 1, [(m.to, m.subject) for m in mails]
    return found[0]


def test_two_libraries_from_application_to_signed_mou(program: ProgramUnderTest) -> None:
    p = program
    # 1. Two libraries apply, one in Chinese; each is acknowledged in its language.
    zh = application(2, lang="zh")
    p.deliver(application(1))
    p.deliver(zh)
    p.step()
    mails = p.new_mail()
    ack_en, ack_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    assert "is now on" in ack_en.subject and "Reply" not in ack_en.subject
    assert "寻找姐妹图书馆" in ack_zh.subject and "王丽" in ack_zh.text
    assert ack_en.msg["Auto-Submitted"] == "auto-generated"
    assert p.library(SEGOVIA_NAME).state == p.library(HANGZHOU_NAME).state == "seeking"

    # 2. Staff pair them by mail; the coordinator gets the proposal with its reasons.
    p.deliver(
        mail(
            sender=f"Coordinator <{STAFF}>",
            subject="pair",
            body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}",
        )
    )
    p.step()
    proposal = one(p.new_mail(), STAFF)
    assert proposal.subject.startswith("Proposal #1") and "shared interests" in proposal.text

    # 3. Staff approve by replying from Outlook: each library gets a private offer in its language.
    p.deliver(reply(proposal, f"Coordinator <{STAFF}>", "approve", client="outlook"))
    p.step()
    mails = p.new_mail()
    offer_en, offer_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    assert (
        HANGZHOU_NAME in offer_en.text and HANGZHOU not in offer_en.text
    )  # no contact before intro
    assert SEGOVIA_NAME in offer_zh.text and "同意" in offer_zh.text
    assert p.partnership(1).state == "offered"

    # 4. Both accept: Segovia from Gmail, Hangzhou from QQ Mail. One introduction to both.
    p.deliver(
        reply(
            offer_en,
            f"Maria Lopez <{SEGOVIA}>",
            "Yes, we would love an introduction!",
            client="gmail",
        )
    )
    p.step()
    assert p.new_mail() == [] and p.partnership(1).state == "offered"
    p.deliver(reply(offer_zh, f"王丽 <{HANGZHOU}>", "好的，我们同意。", client="qq"))
    p.step()
    (intro,) = p.new_mail()
    assert set(intro.to) == {SEGOVIA, HANGZHOU, STAFF}  # the mentor (first staff address) in copy
    assert STAFF in str(intro.msg["Cc"])
    assert " / " in intro.subject  # both languages, one mail
    assert SEGOVIA in intro.text and HANGZHOU in intro.text and "pen pal" in intro.text.lower()
    # The trial length quoted is the one the rules enforce (the trial-end timer), in both languages.
    days = p.services.workflow.trial_days
    assert (
        days == 90 and f"we suggest {days} days" in intro.text and f"建议为期{days}天" in intro.text
    )
    assert p.partnership(1).state == "trial"
    assert p.library(SEGOVIA_NAME).state == "partnered"

    # 5. A month later: check-ins; Segovia reports an activity from Apple Mail.
    p.advance(days=30)  # and mail held for the libraries' working hours goes out
    mails = p.new_mail()
    checkin_en = one(mails, SEGOVIA)
    assert "what did you do together" in checkin_en.text.lower()
    assert one(mails, HANGZHOU).msg["In-Reply-To"]  # threaded on that library's earlier mail
    p.deliver(
        reply(
            checkin_en,
            f"Maria Lopez <{SEGOVIA}>",
            "We exchanged ten picture books and started a pen-pal class.",
            client="apple",
        )
    )
    p.step()
    with p.services.db.unit_of_work() as s:
        (activity,) = s.scalars(select(Activity))
        assert activity.text == "We exchanged ten picture books and started a pen-pal class."

    # 6. The trial ends (after its third check-in): both get the MOU form.
    p.advance(days=65)
    mails = p.new_mail()
    mou_en = [m for m in for_address(mails, SEGOVIA) if "I agree" in m.text][-1]
    mou_zh = [m for m in for_address(mails, HANGZHOU) if "同意" in m.text][-1]
    assert p.partnership(1).state == "mou_sent"

    # 7. Segovia first forgets a field (Outlook), is asked for exactly it, then signs.
    p.deliver(reply(mou_en, f"Maria Lopez <{SEGOVIA}>", MOU_EN + "\nI agree.", client="outlook"))
    p.step()
    missing = one(p.new_mail(), SEGOVIA)
    assert (
        "Signatory title" in missing.text
        and "Goals:" not in missing.text.split("still missing")[0][-200:]
    )
    p.deliver(
        reply(
            missing,
            f"Maria Lopez <{SEGOVIA}>",
            "Signatory title: Director\n\nI agree.",
            client="gmail",
        )
    )
    p.step()
    assert p.new_mail() == [] and p.partnership(1).state == "mou_sent"
    p.deliver(reply(mou_zh, f"王丽 <{HANGZHOU}>", MOU_ZH + "\n同意", client="qq"))
    p.step()
    (confirmed,) = p.new_mail()
    assert set(confirmed.to) == {SEGOVIA, HANGZHOU, STAFF}
    assert "Ana Martin" in confirmed.text and "陈明" in confirmed.text
    partnership = p.partnership(1)
    assert partnership.state == "active" and partnership.review_at is not None
    # The MOU's own review date is the one that counts (both sides wrote 2028-03-01).
    assert partnership.review_at.date().isoformat() == "2028-03-01"

    # 8. Thirty days before the review date: a reminder to both.
    p.advance(days=(partnership.review_at - p.clock.now()).days - 29)
    reminders = [
        m
        for m in p.new_mail()
        if "review" in m.subject.lower() or "续" in m.subject or "审" in m.subject
    ]
    assert {a for m in reminders for a in m.to} >= {SEGOVIA, HANGZHOU}

    # Every change of state is in the history with what caused it.
    with p.services.db.unit_of_work() as s:
        states = [
            h.to_state
            for h in s.scalars(
                select(History)
                .where(History.record_type == "partnership", History.record_id == 1)
                .order_by(History.id)
            )
            if h.from_state != h.to_state
        ]
        assert states == ["proposed", "offered", "trial", "mou_sent", "active"]
        assert (
            s.scalar(select(func.count()).select_from(Outbox).where(Outbox.status != "sent")) == 0
        )
        assert (
            s.scalar(
                select(func.count())
                .select_from(Timer)
                .where(
                    Timer.status == "pending",
                    Timer.state != "active",
                    Timer.record_type == "partnership",
                )
            )
            == 0
        )


def test_library_text_reaches_subjects_decoded_and_the_relay_hears_our_domain(
    program: ProgramUnderTest,
) -> None:
    """A library name typed as an RFC 2047 encoded word is decoded, never passed on as one."""
    body = (
        application(3)
        .decode()
        .replace(
            "Library name: Biblioteca Municipal de Segovia",
            "Library name: =?utf-8?b?5p2t5bee?= Public Library",
        )
    )
    program.send(body.encode(), sender="maria3@biblioteca.example.es")
    program.step()
    [ack] = program.new_mail()
    assert ack.subject == "杭州 Public Library is now on the Sister Libraries list"
    wire = program.sink.received[-1]
    assert b"=?utf-8?b?5p2t5bee?=" not in wire.content
    assert wire.host_name == "program.example"  # smtp.helo_name defaults to the program's domain
