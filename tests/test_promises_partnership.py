"""The issue's promises about a partnership's life after the offer, end to end, by mail alone.

Informal partnerships, the renewal question and what follows a closing, the MOU's own review
date, the trial's length and check-ins, and the lapsed offer told to the side that said yes.
Replies travel over SMTP into mailflow; what comes out is read from the SMTP sink; the state is
read back from the database (SQLite and PostgreSQL).
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.engine.machine import add_months
from mailflow.outbox.render import long_date
from mailflow.report.data import public_data
from mailflow.store.schema import Activity, AttentionItem, History, Outbox, Timer
from tests.helpers import STAFF
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink
from tests.test_workflow_e2e import MOU_EN, MOU_ZH
from tests.test_workflow_paths import HANGZHOU, HANGZHOU_NAME, SEGOVIA, SEGOVIA_NAME, offered

MARIA, WANGLI = f"Maria Lopez <{SEGOVIA}>", f"王丽 <{HANGZHOU}>"
# An MOU whose review comes round soon after signing, so renewal is reached without check-ins.
SOON = "2027-06-01"
MOU_EN_SOON = MOU_EN.replace("Review date: 2028-03-01", f"Review date: {SOON}")
MOU_ZH_SOON = MOU_ZH.replace("审查日期：2028-03-01", f"审查日期：{SOON}")


@pytest.fixture
def program(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    sink = SmtpSink().start()
    p = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path)
    yield p
    p.close()
    sink.stop()


# -- helpers ------------------------------------------------------------------------------------
def one(mails: list[Sent], address: str) -> Sent:
    found = for_address(mails, address)
    assert len(found) == 1, [(m.to, m.subject) for m in mails]
    return found[0]


def sent_before(p: ProgramUnderTest, template: str) -> Sent:
    """The last mail of `template` that went out, even one new_mail() already returned."""
    with p.services.db.unit_of_work() as s:
        raw = s.scalars(
            select(Outbox.raw).where(Outbox.template == template).order_by(Outbox.id.desc())
        ).first()
    assert raw is not None, f"no {template} was sent"
    msg = email.message_from_bytes(raw, policy=default)
    return Sent(tuple(a.strip() for a in str(msg["To"]).split(",")), msg)


def templates_sent(p: ProgramUnderTest, since: int = 0) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(Outbox.template).where(Outbox.id > since).order_by(Outbox.id)))


def last_outbox_id(p: ProgramUnderTest) -> int:
    with p.services.db.unit_of_work() as s:
        return max(s.scalars(select(Outbox.id)), default=0)


def path_of(p: ProgramUnderTest, pid: int = 1) -> list[tuple[str, str]]:
    """(event, new state) of every change of state of the partnership, in order."""
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(History)
            .where(History.record_type == "partnership", History.record_id == pid)
            .order_by(History.id)
        )
        return [(h.event, h.to_state) for h in rows if h.from_state != h.to_state]


def listed(p: ProgramUnderTest) -> set[str]:
    """The names on the public "Libraries Seeking Sisters" list."""
    with p.services.db.unit_of_work() as s:
        data = public_data(s)
    return {lib["name"] for c in data["countries"] for lib in c["libraries"]}


def days_until(p: ProgramUnderTest, when: datetime) -> float:
    return (when - p.clock.now()).total_seconds() / 86400


def says_date(mail: Sent, when: datetime) -> bool:
    """The mail names the day in English ("1 March 2028") and in Chinese ("2028年3月1日")."""
    day = when.date()
    return long_date(day, "en") in mail.text and long_date(day, "zh") in mail.text


def to_trial(p: ProgramUnderTest) -> Sent:
    """Both libraries accept their offer: the introduction (one mail to both, mentor in copy)."""
    en, zh = offered(p)
    p.send(reply(en, MARIA, "Yes, we would love an introduction!", client="gmail"))
    p.send(reply(zh, WANGLI, "好的，我们同意。", client="qq"))
    p.step()
    (intro,) = p.new_mail()
    assert p.partnership(1).state == "trial"
    return intro


def to_mou_sent(p: ProgramUnderTest) -> tuple[Sent, Sent]:
    """Trial, one answered check-in, the end of the trial: (Segovia's, Hangzhou's) MOU request."""
    to_trial(p)
    p.advance(days=30)
    checkin = one(p.new_mail(), SEGOVIA)
    p.send(reply(checkin, MARIA, "We exchanged letters between our reading clubs.", client="apple"))
    p.step()
    p.advance(days=60)  # past the trial's 90 days
    mails = p.new_mail()
    mou_en = [m for m in for_address(mails, SEGOVIA) if "I agree" in m.text][-1]
    mou_zh = [m for m in for_address(mails, HANGZHOU) if "同意" in m.text][-1]
    assert p.partnership(1).state == "mou_sent"
    return mou_en, mou_zh


def to_active(p: ProgramUnderTest, mou_en: str = MOU_EN, mou_zh: str = MOU_ZH) -> Sent:
    """Both sign the MOU (with "I agree" / "同意"): the confirmation to both."""
    req_en, req_zh = to_mou_sent(p)
    p.send(reply(req_en, MARIA, "I agree.\n\n" + mou_en + "Signatory title: Director\n"))
    p.send(reply(req_zh, WANGLI, "同意\n\n" + mou_zh, client="qq"))
    p.step()
    (confirmed,) = p.new_mail()
    assert p.partnership(1).state == "active"
    return confirmed


# -- 1. informal partnerships ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("side", "sender", "words"),
    [
        ("en", MARIA, "We would prefer to keep it informal, thanks"),
        ("zh", WANGLI, "我们希望保持非正式合作，不签备忘录"),
    ],
)
def test_an_informal_reply_to_the_mou_request_makes_the_partnership_active_without_an_mou(
    program: ProgramUnderTest, side: str, sender: str, words: str
) -> None:
    p = program
    req_en, req_zh = to_mou_sent(p)
    # The request invites it, in each library's language.
    assert "If you would rather keep the partnership informal" in req_en.text
    assert "如果贵馆更希望保持非正式合作" in req_zh.text
    p.send(reply(req_en if side == "en" else req_zh, sender, words, client="outlook"))
    p.step()
    (confirmed,) = p.new_mail()  # one mail to both libraries, the mentor in copy
    assert set(confirmed.to) == {SEGOVIA, HANGZHOU, STAFF}
    assert "informal partnership, without a memorandum of understanding" in confirmed.text
    assert "采取非正式合作的方式，不签订合作备忘录" in confirmed.text
    partnership = p.partnership(1)
    assert partnership.state == "active" and partnership.informal
    assert partnership.review_at == p.clock.now() + timedelta(days=365)
    assert says_date(confirmed, partnership.review_at)  # "Review date: ...", both languages
    assert path_of(p)[-1] == ("informal-chosen", "active")
    with p.services.db.unit_of_work() as s:
        kept = s.scalars(select(Activity).order_by(Activity.id.desc())).first()
        assert kept is not None and kept.text == words  # the reply is kept, as a report
        pending = set(
            s.scalars(
                select(Timer.name).where(
                    Timer.record_type == "partnership", Timer.status == "pending"
                )
            )
        )
    assert "mou-reminder" not in pending and {"review-reminder", "review-due"} <= pending
    assert "partnership-mou-missing" not in templates_sent(p)


def assert_informal_confirmed(p: ProgramUnderTest, mails: list[Sent], event: str) -> None:
    """Both libraries (and the mentor) got the informal confirmation; active, with a review date."""
    (confirmed,) = [m for m in mails if SEGOVIA in m.to]
    assert set(confirmed.to) == {SEGOVIA, HANGZHOU, STAFF}
    assert "informal partnership, without a memorandum of understanding" in confirmed.text
    assert "采取非正式合作的方式，不签订合作备忘录" in confirmed.text
    partnership = p.partnership(1)
    assert partnership.state == "active" and partnership.informal
    assert partnership.review_at == p.clock.now() + timedelta(days=365)
    assert says_date(confirmed, partnership.review_at)
    assert path_of(p)[-1] == (event, "active")


@pytest.mark.parametrize(("state", "command"), [("trial", "skip-mou"), ("mou_sent", "非正式")])
def test_staff_skip_mou_makes_the_partnership_active_and_informal(
    program: ProgramUnderTest, state: str, command: str
) -> None:
    p = program
    if state == "trial":
        to_trial(p)
    else:
        to_mou_sent(p)
    # The coordinator answers the proposal mail about this partnership, from Outlook.
    proposal = sent_before(p, "staff-proposal")
    p.send(reply(proposal, f"Coordinator <{STAFF}>", command, client="outlook"))
    p.step()
    mails = p.new_mail()
    assert_informal_confirmed(p, mails, "staff-skip-mou")
    assert [m for m in mails if m.to == (STAFF,)] == []  # a command that worked needs no answer
    with p.services.db.unit_of_work() as s:
        history = s.scalars(
            select(History).where(History.event == "staff-skip-mou", History.record_id == 1)
        ).one()
        assert history.cause == "staff" and history.from_state == state
        pending = set(s.scalars(select(Timer.name).where(Timer.status == "pending")))
    assert not pending & {"trial-end", "trial-checkin", "mou-reminder", "mou-silence"}
    # Nothing more about an MOU: the next mail is the quarterly check-in.
    p.advance(days=92)
    assert "partnership-mou-request" not in templates_sent(p)[-3:]
    assert p.partnership(1).state == "active"


def test_an_informal_wish_during_the_trial_makes_it_active_without_an_mou_at_trial_end(
    program: ProgramUnderTest,
) -> None:
    p = program
    to_trial(p)
    p.advance(days=30)
    checkin_zh = one(p.new_mail(), HANGZHOU)
    # Hangzhou answers the first check-in: it wants to stay informal. The trial runs on.
    p.send(reply(checkin_zh, WANGLI, "我们希望保持非正式合作，不签备忘录", client="qq"))
    p.step()
    assert p.new_mail() == []
    partnership = p.partnership(1)
    assert partnership.state == "trial" and partnership.informal
    with p.services.db.unit_of_work() as s:
        (kept,) = s.scalars(select(Activity))
        assert kept.text == "我们希望保持非正式合作，不签备忘录"
    # Nobody answers the second check-in; the answered first one still counts: no stall.
    p.advance(days=30)
    assert {m.to for m in p.new_mail()} == {(SEGOVIA,), (HANGZHOU,)}
    p.advance(days=30)
    mails = p.new_mail()
    assert_informal_confirmed(p, mails, "trial-end")
    assert "partnership-mou-request" not in templates_sent(p)
    assert [state for _, state in path_of(p)] == ["proposed", "offered", "trial", "active"]


# -- 8. the trial ------------------------------------------------------------------------------
def test_the_trial_lasts_what_the_rules_say_and_one_answered_checkin_ends_it_with_the_mou(
    program: ProgramUnderTest,
) -> None:
    p = program
    intro = to_trial(p)
    days = p.services.workflow.trial_days  # read from the trial-end timer in rules/
    assert days == 90
    assert f"we suggest {days} days" in intro.text and f"建议为期{days}天" in intro.text
    trial_at = p.partnership(1).trial_at
    with p.services.db.unit_of_work() as s:
        end = s.scalars(select(Timer).where(Timer.name == "trial-end")).one()
        assert end.due_at == trial_at + timedelta(days=days)
    p.advance(days=30)
    mails = p.new_mail()
    checkin_en, checkin_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    assert "What did you do together this month?" in checkin_en.text
    assert "这个月双方一起做了些什么" in checkin_zh.text
    # The check-in quotes the same end of the trial, in each language.
    assert long_date(end.due_at.date(), "en") in checkin_en.text
    assert long_date(end.due_at.date(), "zh") in checkin_zh.text
    p.send(reply(checkin_zh, WANGLI, "我们互相寄了图书馆的明信片。", client="163"))
    p.step()
    # A day before the trial's end: still a trial, no MOU yet (the 60-day check-in went out).
    p.advance(days=days_until(p, trial_at + timedelta(days=days - 1)))
    assert p.partnership(1).state == "trial"
    assert "partnership-mou-request" not in templates_sent(p)
    p.new_mail()
    p.advance(days=1)
    mails = p.new_mail()
    mou_en, mou_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    assert "memorandum of understanding" in mou_en.text and '"I agree"' in mou_en.text
    assert "合作备忘录" in mou_zh.text and "同意" in mou_zh.text
    assert p.partnership(1).state == "mou_sent"
    assert path_of(p)[-1] == ("trial-end", "mou_sent")


def test_two_silent_checkins_stall_the_trial_and_staff_can_still_make_it_informal(
    program: ProgramUnderTest,
) -> None:
    p = program
    to_trial(p)
    for _ in range(2):  # check-ins at 30 and 60 days; nobody answers
        p.advance(days=30)
        mails = p.new_mail()
        assert "What did you do together" in one(mails, SEGOVIA).text
        assert "一起做了些什么" in one(mails, HANGZHOU).text
    p.advance(days=days_until(p, p.partnership(1).trial_at + timedelta(days=90)))
    (escalation,) = p.new_mail()  # the mentor is told; the libraries get no MOU
    assert escalation.to == (STAFF,)
    assert "neither library answered two check-ins in a row" in escalation.text
    assert 'Reply "resume"' in escalation.text
    assert p.partnership(1).state == "stalled"
    assert "partnership-mou-request" not in templates_sent(p)
    with p.services.db.unit_of_work() as s:
        (item,) = s.scalars(select(AttentionItem).where(AttentionItem.record_type == "partnership"))
        assert item.resolved_at is None and item.record_id == 1
    # Staff answer the escalation: skip the MOU, the partnership goes on informally.
    p.send(reply(escalation, f"Coordinator <{STAFF}>", "skip mou", client="outlook"))
    p.step()
    assert_informal_confirmed(p, p.new_mail(), "staff-skip-mou")
    with p.services.db.unit_of_work() as s:
        item = s.get(AttentionItem, item.id)
        assert item.resolved_at is not None and item.resolved_by == STAFF


# -- 2. renewal: one "no" closes; each library says whether it wants another partner -------------
def closing_mails(p: ProgramUnderTest) -> tuple[Sent, Sent]:
    """The partnership-closed mail to each library, asking about another partner."""
    mails = p.new_mail()
    closed_en, closed_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    assert "is now closed" in closed_en.text and "Would you like a new sister library?" in (
        closed_en.text
    )
    assert "合作已在本项目中结束" in closed_zh.text
    assert "如希望我们为贵馆寻找新的姐妹图书馆" in closed_zh.text
    assert p.partnership(1).state == "closed"
    # Off the public list until each says yes.
    assert p.library(SEGOVIA_NAME).state == p.library(HANGZHOU_NAME).state == "resting"
    assert listed(p) == set()
    return closed_en, closed_zh


def test_at_renewal_one_no_closes_and_only_a_library_that_says_yes_is_listed_again(
    program: ProgramUnderTest,
) -> None:
    p = program
    to_active(p, MOU_EN_SOON, MOU_ZH_SOON)
    review_at = p.partnership(1).review_at
    assert review_at.date().isoformat() == SOON
    p.advance(days=days_until(p, review_at))  # the review date: up for renewal
    mails = p.new_mail()
    ask_zh = [m for m in for_address(mails, HANGZHOU) if "贵馆是否希望继续合作" in m.text][-1]
    assert "Would you like to continue?" in for_address(mails, SEGOVIA)[-1].text
    assert p.partnership(1).state == "renewal"
    # Hangzhou says no; Segovia's yes is not needed for that.
    p.send(reply(ask_zh, WANGLI, "不用了，谢谢。", client="qq"))
    p.step()
    closed_en, closed_zh = closing_mails(p)
    assert path_of(p)[-2:] == [("review-due", "renewal"), ("decline", "closed")]
    # Segovia answers the closing mail: yes, another partner; it is listed again.
    p.send(reply(closed_en, MARIA, "Yes please, we would like another sister library."))
    p.step()
    relisted = one(p.new_mail(), SEGOVIA)
    assert "is on the list of libraries seeking a sister library again" in relisted.text
    assert p.library(SEGOVIA_NAME).state == "seeking"
    # Hangzhou says no: it stays resting, off the list, and nothing is sent.
    p.send(reply(closed_zh, WANGLI, "不用了，谢谢。", client="qq"))
    p.step()
    assert p.new_mail() == []
    p.advance(days=30)
    assert p.library(HANGZHOU_NAME).state == "resting"
    assert listed(p) == {SEGOVIA_NAME}
    with p.services.db.unit_of_work() as s:
        events = [
            (h.event, h.to_state)
            for h in s.scalars(
                select(History).where(History.record_type == "library").order_by(History.id)
            )
            if h.event in ("wants-partner", "no-partner")
        ]
    assert events == [("wants-partner", "seeking"), ("no-partner", "resting")]


def test_at_renewal_both_yes_renews_with_a_new_review_date(program: ProgramUnderTest) -> None:
    p = program
    to_active(p, MOU_EN_SOON, MOU_ZH_SOON)
    review_at = p.partnership(1).review_at
    p.advance(days=days_until(p, review_at))
    mails = p.new_mail()
    ask_en = for_address(mails, SEGOVIA)[-1]
    ask_zh = for_address(mails, HANGZHOU)[-1]
    assert p.partnership(1).state == "renewal"
    p.send(reply(ask_en, MARIA, "Yes, let's continue!"))
    p.step()
    assert p.new_mail() == [] and p.partnership(1).state == "renewal"  # waits for the other
    p.send(reply(ask_zh, WANGLI, "同意续签，谢谢！", client="qq"))
    p.step()
    mails = p.new_mail()
    renewed_en, renewed_zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    partnership = p.partnership(1)
    assert partnership.state == "active"
    # Another term of the MOU's duration (two years) from the previous review date.
    assert partnership.review_at == add_months(review_at, 24)
    assert "is renewed, and the next review date is" in renewed_en.text
    assert long_date(partnership.review_at.date(), "en") in renewed_en.text
    assert "合作已续签" in renewed_zh.text
    assert long_date(partnership.review_at.date(), "zh") in renewed_zh.text
    assert path_of(p)[-2:] == [("review-due", "renewal"), ("accept", "active")]
    assert not (partnership.data or {}).get("review_asked")
    with p.services.db.unit_of_work() as s:
        due = s.scalars(
            select(Timer.due_at).where(Timer.name == "review-due", Timer.status == "pending")
        ).one()
    assert due == partnership.review_at  # the next review is scheduled on the new date


# -- 3. the MOU's own review date; resume keeps it; the pre-review reminder's yes and no --------
@pytest.mark.parametrize(
    ("en_lines", "zh_lines", "expected"),
    [
        # No usable review date: the MOU's start date plus its duration (two years).
        (
            ("Review date: at the end of the term",),
            ("审查日期：期满时",),
            "2029-03-01",
        ),
        # Neither a review date nor a duration: the rules' 365 days from the MOU's start date
        # (2028 is a leap year).
        (
            ("Review date: to be agreed", "Duration: as long as we both wish"),
            ("审查日期：由双方商定", "期限：长期"),
            "2028-02-29",
        ),
    ],
)
def test_the_review_date_comes_from_the_mou_start_and_duration_else_a_year(
    program: ProgramUnderTest, en_lines: tuple[str, ...], zh_lines: tuple[str, ...], expected: str
) -> None:
    p = program
    mou_en, mou_zh = MOU_EN, MOU_ZH
    for line in en_lines:
        label = line.split(":")[0]
        mou_en = "\n".join(line if ln.startswith(label + ":") else ln for ln in mou_en.split("\n"))
    for line in zh_lines:
        label = line.split("：")[0]
        mou_zh = "\n".join(line if ln.startswith(label + "：") else ln for ln in mou_zh.split("\n"))
    confirmed = to_active(p, mou_en, mou_zh)
    partnership = p.partnership(1)
    assert partnership.review_at.date().isoformat() == expected
    assert long_date(partnership.review_at.date(), "en") in confirmed.text
    assert long_date(partnership.review_at.date(), "zh") in confirmed.text
