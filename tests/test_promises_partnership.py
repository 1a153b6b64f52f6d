"""The issue's promises about a partnership's life after the offer, end to end, by mail alone.

Informal partnerships, the renewal question and what follows a closing, the MOU's own review
date, the trial's length and check-ins, and the lapsed offer told to the side that said yes.
Replies travel over SMTP into mailflow; what comes out is read from the SMTP sink; the state is
read back from the database (SQLite and PostgreSQL).

Several pairs share one program where their timelines coincide: a program costs seconds to
start, and the clock moves for all of them at once. Each pair is an English library (Segovia)
and a Chinese one (Hangzhou), so every reply that matters is tried in both languages.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.policy import default

from sqlalchemy import or_, select

from mailflow.engine.machine import add_months
from mailflow.outbox.render import long_date
from mailflow.report.data import public_data
from mailflow.store.schema import (
    Activity,
    AttentionItem,
    Contact,
    History,
    Library,
    Outbox,
    Partnership,
    Timer,
)
from tests.helpers import STAFF, application, mail
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.test_workflow_e2e import MOU_EN, MOU_ZH
from tests.test_workflow_paths import HANGZHOU, SEGOVIA, SEGOVIA_NAME, offered

COORDINATOR = f"Coordinator <{STAFF}>"
# An MOU whose review comes round soon after signing, so renewal is reached without check-ins.
SOON = "2027-06-01"


def mou_with(text: str, **lines: str) -> str:
    """An MOU body with some of its lines replaced, by label ("Review date" -> new line)."""
    out = text
    for label, line in lines.items():
        label = label.replace("_", " ")
        out = "\n".join(line if ln.startswith(label) else ln for ln in out.split("\n"))
    return out


MOU_EN_SOON = mou_with(MOU_EN, Review_date=f"Review date: {SOON}")
MOU_ZH_SOON = mou_with(MOU_ZH, 审查日期=f"审查日期：{SOON}")


# -- pairs of libraries ---------------------------------------------------------------------------
@dataclass
class Pair:
    """Pair k: Segovia (application 2k-1, English) and Hangzhou (application 2k, Chinese)."""

    k: int
    pid: int = 0

    @property
    def en(self) -> str:
        return f"maria{2 * self.k - 1}@biblioteca.example.es"

    @property
    def zh(self) -> str:
        return f"wangli{2 * self.k}@library.example.cn"

    @property
    def maria(self) -> str:
        return f"Maria Lopez <{self.en}>"

    @property
    def wangli(self) -> str:
        return f"王丽 <{self.zh}>"


def offer(p: ProgramUnderTest, count: int) -> tuple[list[Pair], dict[str, Sent]]:
    """`count` pairs, paired and approved by staff: the pairs, and each library's offer."""
    pairs = [Pair(k) for k in range(1, count + 1)]
    for pair in pairs:
        # Both consent to the public listing: the renewal test reads the public list.
        p.deliver(application(2 * pair.k - 1, public=True))
        p.deliver(application(2 * pair.k, lang="zh", public=True))
    p.step()
    p.new_mail()
    offers: dict[str, Sent] = {}
    for pair in pairs:
        p.deliver(mail(sender=STAFF, subject="pair", body=f"pair {pair.en} with {pair.zh}"))
        p.step()
        (proposal,) = for_address(p.new_mail(), STAFF)
        p.deliver(reply(proposal, COORDINATOR, "approve", client="outlook"))
        p.step()
        offers |= {m.to[0]: m for m in p.new_mail()}
    for pair in pairs:
        pair.pid = partnership_of(p, pair.en).id
        assert p.partnership(pair.pid).state == "offered"
    return pairs, offers


def to_trial(p: ProgramUnderTest, count: int) -> tuple[list[Pair], dict[int, Sent]]:
    """Both libraries of each pair accept: the pairs, and each pair's introduction."""
    pairs, offers = offer(p, count)
    for pair in pairs:
        p.send(reply(offers[pair.en], pair.maria, "Yes, we would love an introduction!"))
        p.send(reply(offers[pair.zh], pair.wangli, "好的，我们同意。", client="qq"))
    p.step()
    mails = p.new_mail()
    intros = {pair.pid: one(mails, pair.en) for pair in pairs}
    assert all(p.partnership(pair.pid).state == "trial" for pair in pairs)
    return pairs, intros


def to_mou_sent(p: ProgramUnderTest, count: int) -> tuple[list[Pair], dict[str, Sent]]:
    """Trial, one answered check-in, the trial's end: the pairs, and each library's MOU request."""
    pairs, _ = to_trial(p, count)
    p.advance(days=30)
    mails = p.new_mail()
    for pair in pairs:
        p.send(reply(one(mails, pair.en), pair.maria, "We exchanged letters.", client="apple"))
    p.step()
    p.advance(days=60)  # past the trial's 90 days
    mails = p.new_mail()
    requests = {}
    for pair in pairs:
        requests[pair.en] = [m for m in for_address(mails, pair.en) if "I agree" in m.text][-1]
        requests[pair.zh] = [m for m in for_address(mails, pair.zh) if "同意" in m.text][-1]
        assert p.partnership(pair.pid).state == "mou_sent"
    return pairs, requests


def to_active(
    p: ProgramUnderTest, mous: list[tuple[str, str]]
) -> tuple[list[Pair], dict[int, Sent]]:
    """Each pair signs its (English, Chinese) MOU: the pairs, and each pair's confirmation."""
    pairs, requests = to_mou_sent(p, len(mous))
    for pair, (mou_en, mou_zh) in zip(pairs, mous, strict=True):
        body_en = "I agree.\n\n" + mou_en + "Signatory title: Director\n"
        p.send(reply(requests[pair.en], pair.maria, body_en))
        p.send(reply(requests[pair.zh], pair.wangli, "同意\n\n" + mou_zh, client="qq"))
    p.step()
    mails = p.new_mail()
    confirmed = {pair.pid: one(mails, pair.en) for pair in pairs}
    assert all(p.partnership(pair.pid).state == "active" for pair in pairs)
    return pairs, confirmed


# -- reading what happened ----------------------------------------------------------------------
def one(mails: list[Sent], address: str) -> Sent:
    found = for_address(mails, address)
    assert len(found) == 1, [(m.to, m.subject) for m in mails]
    return found[0]


def about(mails: list[Sent], pid: int) -> Sent:
    """The one staff mail about partnership #pid."""
    (found,) = [m for m in mails if m.to == (STAFF,) and f"Partnership #{pid}" in m.text]
    return found


def sent_before(p: ProgramUnderTest, template: str, pid: int) -> Sent:
    """The last mail of `template` about partnership #pid, even one new_mail() returned."""
    with p.services.db.unit_of_work() as s:
        raw = s.scalars(
            select(Outbox.raw)
            .where(
                Outbox.template == template,
                Outbox.record_type == "partnership",
                Outbox.record_id == pid,
            )
            .order_by(Outbox.id.desc())
        ).first()
    assert raw is not None, f"no {template} was sent about #{pid}"
    msg = email.message_from_bytes(raw, policy=default)
    return Sent(tuple(a.strip() for a in str(msg["To"]).split(",")), msg)


def templates_sent(p: ProgramUnderTest, pid: int) -> list[str]:
    with p.services.db.unit_of_work() as s:
        return list(
            s.scalars(
                select(Outbox.template)
                .where(Outbox.record_type == "partnership", Outbox.record_id == pid)
                .order_by(Outbox.id)
            )
        )


def library_of(p: ProgramUnderTest, address: str) -> Library:
    with p.services.db.unit_of_work() as s:
        contact = s.scalars(select(Contact).where(Contact.email == address)).one()
        return s.get(Library, contact.library_id)


def partnership_of(p: ProgramUnderTest, address: str) -> Partnership:
    lib = library_of(p, address)
    with p.services.db.unit_of_work() as s:
        return s.scalars(
            select(Partnership).where(
                or_(Partnership.library_a_id == lib.id, Partnership.library_b_id == lib.id)
            )
        ).one()


def path_of(p: ProgramUnderTest, pid: int) -> list[tuple[str, str]]:
    """(event, new state) of every change of state of the partnership, in order."""
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(History)
            .where(History.record_type == "partnership", History.record_id == pid)
            .order_by(History.id)
        )
        return [(h.event, h.to_state) for h in rows if h.from_state != h.to_state]


def pending_timers(p: ProgramUnderTest, pid: int) -> set[str]:
    with p.services.db.unit_of_work() as s:
        return set(
            s.scalars(
                select(Timer.name).where(
                    Timer.record_type == "partnership",
                    Timer.record_id == pid,
                    Timer.status == "pending",
                )
            )
        )


def listed(p: ProgramUnderTest) -> set[tuple[str, str]]:
    """(name, city) of every library on the public "Libraries Seeking Sisters" list."""
    with p.services.db.unit_of_work() as s:
        data = public_data(s, p.services.workflow.states("library", "listed"))
    return {(lib["name"], lib["city"]) for c in data["countries"] for lib in c["libraries"]}


def listing(p: ProgramUnderTest, address: str) -> tuple[str, str]:
    lib = library_of(p, address)
    return lib.name, lib.city


def days_until(p: ProgramUnderTest, when: datetime) -> float:
    return (when - p.clock.now()).total_seconds() / 86400


def says_date(mail: Sent, when: datetime) -> bool:
    """The mail names the day in English ("1 March 2028") and in Chinese ("2028年3月1日")."""
    day = when.date()
    return long_date(day, "en") in mail.text and long_date(day, "zh") in mail.text


def assert_informal(p: ProgramUnderTest, pair: Pair, mails: list[Sent], event: str) -> None:
    """Active without an MOU: both libraries (and the mentor) were told, a review date is set."""
    confirmed = one(mails, pair.en)
    assert set(confirmed.to) == {pair.en, pair.zh, STAFF}  # one mail to both, mentor in copy
    assert "informal partnership, without a memorandum of understanding" in confirmed.text
    assert "采取非正式合作的方式，不签订合作备忘录" in confirmed.text
    partnership = p.partnership(pair.pid)
    assert partnership.state == "active" and partnership.informal
    assert partnership.review_at == p.clock.now() + timedelta(days=365)
    assert says_date(confirmed, partnership.review_at)  # "Review date: ...", both languages
    assert path_of(p, pair.pid)[-1] == (event, "active")
    pending = pending_timers(p, pair.pid)
    assert {"review-reminder", "review-due", "active-checkin"} <= pending
    assert not pending & {"trial-end", "trial-checkin", "mou-reminder", "mou-silence"}
    assert "partnership-mou-missing" not in templates_sent(p, pair.pid)


def assert_closed_and_asked(p: ProgramUnderTest, pair: Pair, mails: list[Sent]) -> None:
    """Closed; each library was asked whether it wants another partner, and is off the list."""
    closed_en, closed_zh = one(mails, pair.en), one(mails, pair.zh)
    assert "is now closed" in closed_en.text
    assert "Would you like a new sister library?" in closed_en.text
    assert "合作已在本项目中结束" in closed_zh.text
    assert "如希望我们为贵馆寻找新的姐妹图书馆" in closed_zh.text
    assert p.partnership(pair.pid).state == "closed"
    for address in (pair.en, pair.zh):
        assert library_of(p, address).state == "resting"
        assert listing(p, address) not in listed(p)


# -- 1. informal partnerships -----------------------------------------------------------------------
def test_an_informal_reply_to_the_mou_request_or_staff_skip_mou_make_it_active_without_an_mou(
    program: ProgramUnderTest,
) -> None:
    p = program
    (en_says, zh_says, staff_says, late), requests = to_mou_sent(p, 4)
    # The request invites it, in each library's language.
    assert "If you would rather keep the partnership informal" in requests[en_says.en].text
    assert "如果贵馆更希望保持非正式合作" in requests[zh_says.zh].text
    en_words = "We would prefer to keep it informal, thanks"
    zh_words = "我们希望保持非正式合作，不签备忘录"
    p.send(reply(requests[en_says.en], en_says.maria, en_words, client="outlook"))
    p.send(reply(requests[zh_says.zh], zh_says.wangli, zh_words, client="qq"))
    # Staff answer the proposal mail about the third pair, in Chinese.
    proposal = sent_before(p, "staff-proposal", staff_says.pid)
    p.send(reply(proposal, COORDINATOR, "非正式", client="outlook"))
    p.step()
    mails = p.new_mail()
    assert_informal(p, en_says, mails, "informal-chosen")
    assert_informal(p, zh_says, mails, "informal-chosen")
    assert_informal(p, staff_says, mails, "staff-skip-mou")
    assert for_address(mails, STAFF) == [m for m in mails if len(m.to) == 3]  # only in copy
    with p.services.db.unit_of_work() as s:
        kept = {a.partnership_id: a.text for a in s.scalars(select(Activity))}
        (skipped,) = s.scalars(select(History).where(History.event == "staff-skip-mou"))
    # A library's wish is kept as a report; the command is staff's, from mou_sent.
    assert kept[en_says.pid] == en_words and kept[zh_says.pid] == zh_words
    assert skipped.cause == "staff" and skipped.from_state == "mou_sent"
    # The fourth pair does not answer: after 45 days it stalls and the mentor is told. A late
    # answer to the MOU request that asks for an informal partnership still counts.
    p.advance(days=45)
    assert "the MOU was not signed in 45 days" in about(p.new_mail(), late.pid).text
    assert p.partnership(late.pid).state == "stalled"
    late_words = "抱歉回复晚了。我们还是希望保持非正式合作，不签备忘录。"
    p.send(reply(requests[late.zh], late.wangli, late_words, client="163"))
    p.step()
    assert_informal(p, late, p.new_mail(), "informal-chosen")


# -- 8. the trial (and 1., an informal wish during it) -----------------------------------------------
def test_the_trial_lasts_what_the_rules_say_and_an_answered_checkin_or_informal_wish_ends_it(
    program: ProgramUnderTest,
) -> None:
    p = program
    (formal, informal), intros = to_trial(p, 2)
    days = p.services.workflow.trial_days  # read from the trial-end timer in rules/
    assert days == 90
    intro = intros[formal.pid]
    assert f"we suggest {days} days" in intro.text and f"建议为期{days}天" in intro.text
    trial_at = p.partnership(formal.pid).trial_at
    with p.services.db.unit_of_work() as s:
        ends = s.scalars(select(Timer.due_at).where(Timer.name == "trial-end")).all()
    assert ends == [trial_at + timedelta(days=days)] * 2
    p.advance(days=30)
    mails = p.new_mail()
    checkin_en, checkin_zh = one(mails, formal.en), one(mails, informal.zh)
    assert "What did you do together this month?" in checkin_en.text
    assert "这个月双方一起做了些什么" in checkin_zh.text
    assert long_date(ends[0].date(), "en") in checkin_en.text  # "Your trial period ends on"
    assert long_date(ends[0].date(), "zh") in checkin_zh.text
    # One pair answers the check-in; in the other, Hangzhou answers that it wants no MOU.
    p.send(reply(checkin_en, formal.maria, "We swapped picture books.", client="apple"))
    p.send(reply(checkin_zh, informal.wangli, "我们希望保持非正式合作，不签备忘录", client="qq"))
    p.step()
    assert p.new_mail() == []
    assert p.partnership(informal.pid).state == "trial" and p.partnership(informal.pid).informal
    # Nobody answers the second check-in. A day before the end: still in trial, nothing formal.
    p.advance(days=days_until(p, trial_at + timedelta(days=days - 1)))
    assert {a for m in p.new_mail() for a in m.to} == {
        formal.en, formal.zh, informal.en, informal.zh
    }  # fmt: skip
    assert p.partnership(formal.pid).state == p.partnership(informal.pid).state == "trial"
    p.advance(days=1)
    mails = p.new_mail()
    # The answered pair gets the MOU request, each library in its language ...
    mou_en, mou_zh = one(mails, formal.en), one(mails, formal.zh)
    assert "memorandum of understanding" in mou_en.text and '"I agree"' in mou_en.text
    assert "合作备忘录" in mou_zh.text and "第一行写上“同意”" in mou_zh.text
    assert path_of(p, formal.pid)[-1] == ("trial-end", "mou_sent")
    # ... the informal one goes active without an MOU (the wish counted as an answer).
    assert_informal(p, informal, mails, "trial-end")
    assert "partnership-mou-request" not in templates_sent(p, informal.pid)
    assert [s for _, s in path_of(p, informal.pid)] == ["proposed", "offered", "trial", "active"]


def test_two_silent_checkins_stall_the_trial_and_staff_skip_mou_works_from_stalled_and_trial(
    program: ProgramUnderTest,
) -> None:
    p = program
    (silent, skipped), _ = to_trial(p, 2)
    # Staff make the second pair informal at once, answering its proposal mail.
    proposal = sent_before(p, "staff-proposal", skipped.pid)
    p.send(reply(proposal, COORDINATOR, "skip-mou", client="outlook"))
    p.step()
    assert_informal(p, skipped, p.new_mail(), "staff-skip-mou")
    for _ in range(2):  # check-ins at 30 and 60 days; nobody answers
        p.advance(days=30)
        mails = p.new_mail()
        assert "What did you do together" in one(mails, silent.en).text
        assert "一起做了些什么" in one(mails, silent.zh).text
    trial_at = p.partnership(silent.pid).trial_at
    p.advance(days=days_until(p, trial_at + timedelta(days=90)))
    (escalation,) = p.new_mail()  # the mentor is told; the libraries get no MOU
    assert escalation.to == (STAFF,) and f"Partnership #{silent.pid}" in escalation.text
    assert "neither library answered two check-ins in a row" in escalation.text
    assert p.partnership(silent.pid).state == "stalled"
    assert "partnership-mou-request" not in templates_sent(p, silent.pid)
    with p.services.db.unit_of_work() as s:
        (item,) = s.scalars(select(AttentionItem).where(AttentionItem.record_id == silent.pid))
        assert item.resolved_at is None and item.record_type == "partnership"
    # Staff answer the escalation: no MOU, the partnership goes on informally.
    p.send(reply(escalation, COORDINATOR, "skip mou", client="outlook"))
    p.step()
    assert_informal(p, silent, p.new_mail(), "staff-skip-mou")
    with p.services.db.unit_of_work() as s:
        item = s.get(AttentionItem, item.id)
        assert item.resolved_at is not None and item.resolved_by == STAFF
        froms = [
            h.from_state
            for h in s.scalars(select(History).where(History.event == "staff-skip-mou"))
        ]
    assert froms == ["trial", "stalled"]


# -- 2. and 3. renewal: one "no" closes; each library says whether it wants another partner -----------
def test_a_no_at_renewal_or_to_the_review_reminder_closes_and_only_a_yes_relists(
    program: ProgramUnderTest,
) -> None:
    p = program
    (at_renewal, at_reminder), confirmed = to_active(
        p, [(MOU_EN_SOON, MOU_ZH_SOON), (MOU_EN_SOON, MOU_ZH_SOON)]
    )
    review_at = p.partnership(at_reminder.pid).review_at
    assert review_at.date().isoformat() == SOON  # the MOU's own review date
    # A "no" nobody asked for (before the reminder) is only a report: the partnership stays.
    p.send(reply(confirmed[at_reminder.pid], at_reminder.maria, "No news yet, still planning."))
    p.step()
    assert p.new_mail() == [] and p.partnership(at_reminder.pid).state == "active"
    # Thirty days before the review date, both pairs are asked; still active.
    p.advance(days=days_until(p, review_at - timedelta(days=30)))
    mails = p.new_mail()
    ask_en = one(mails, at_reminder.en)
    assert "Would you like to continue?" in ask_en.text
    assert long_date(review_at.date(), "en") in ask_en.subject
    ask_zh = one(mails, at_reminder.zh)
    assert (
        "贵馆是否希望继续合作" in ask_zh.text and long_date(review_at.date(), "zh") in ask_zh.text
    )
    assert p.partnership(at_reminder.pid).state == "active"
    # 3. Segovia says no to the reminder, while active: closed.
    p.send(reply(ask_en, at_reminder.maria, "No thanks, we will not continue.", client="outlook"))
    p.step()
    closing = p.new_mail()
    assert_closed_and_asked(p, at_reminder, closing)
    assert path_of(p, at_reminder.pid)[-1] == ("decline", "closed")
    # 2. The other pair reaches its review date: up for renewal; Hangzhou says no.
    p.advance(days=days_until(p, review_at))
    asked = [m for m in for_address(p.new_mail(), at_renewal.zh) if "继续合作" in m.text][-1]
    assert p.partnership(at_renewal.pid).state == "renewal"
    p.send(reply(asked, at_renewal.wangli, "不用了，谢谢。", client="qq"))
    p.step()
    renewal_closing = p.new_mail()
    assert_closed_and_asked(p, at_renewal, renewal_closing)
    assert path_of(p, at_renewal.pid)[-2:] == [("review-due", "renewal"), ("decline", "closed")]
    # Each answers the closing mail: a yes lists it again, a no leaves it resting, quietly.
    yes_en = one(renewal_closing, at_renewal.en)
    p.send(reply(yes_en, at_renewal.maria, "Yes please, we would like another sister library."))
    p.send(reply(one(renewal_closing, at_renewal.zh), at_renewal.wangli, "不用了。", client="qq"))
    p.send(reply(one(closing, at_reminder.zh), at_reminder.wangli, "好的，请再帮我们找一所。"))
    p.step()
    mails = p.new_mail()
    assert {m.to for m in mails} == {(at_renewal.en,), (at_reminder.zh,)}
    relisted_en, relisted_zh = one(mails, at_renewal.en), one(mails, at_reminder.zh)
    assert "is on the list of libraries seeking a sister library again" in relisted_en.text
    assert "已重新列入“寻找姐妹图书馆”名单" in relisted_zh.text
    # Segovia of the reminder pair never answers: silence leaves it resting too.
    p.advance(days=60)
    assert library_of(p, at_renewal.en).state == library_of(p, at_reminder.zh).state == "seeking"
    assert library_of(p, at_renewal.zh).state == library_of(p, at_reminder.en).state == "resting"
    assert listed(p) == {listing(p, at_renewal.en), listing(p, at_reminder.zh)}
    with p.services.db.unit_of_work() as s:
        answers = sorted(
            (h.record_id, h.event, h.to_state)
            for h in s.scalars(select(History).where(History.record_type == "library"))
            if h.event in ("wants-partner", "no-partner")
        )
    ids = {a: library_of(p, a).id for a in (at_renewal.en, at_renewal.zh, at_reminder.zh)}
    assert answers == sorted(
        [
            (ids[at_renewal.en], "wants-partner", "seeking"),
            (ids[at_renewal.zh], "no-partner", "resting"),
            (ids[at_reminder.zh], "wants-partner", "seeking"),
        ]
    )


# -- 3. the MOU's review date, its start and duration; and 2., both yes renews --------------------------
def test_the_mou_sets_the_review_date_and_both_yes_at_renewal_renews(
    program: ProgramUnderTest,
) -> None:
    p = program
    no_review_en = mou_with(MOU_EN, Review_date="Review date: at the end of the term")
    no_review_zh = mou_with(MOU_ZH, 审查日期="审查日期：期满时")
    no_terms_en = mou_with(
        no_review_en, Review_date="Review date: to be agreed", Duration="Duration: as we wish"
    )
    no_terms_zh = mou_with(no_review_zh, 审查日期="审查日期：由双方商定", 期限="期限：长期")
    (renewing, by_duration, by_default), confirmed = to_active(
        p, [(MOU_EN_SOON, MOU_ZH_SOON), (no_review_en, no_review_zh), (no_terms_en, no_terms_zh)]
    )
    # The MOU's own review date; else its start date (2027-03-01) plus its duration (two
    # years); else the rules' 365 days from that start (2028 is a leap year).
    expected = {renewing.pid: SOON, by_duration.pid: "2029-03-01", by_default.pid: "2028-02-29"}
    for pid, day in expected.items():
        review_at = p.partnership(pid).review_at
        assert review_at.date().isoformat() == day
        assert says_date(confirmed[pid], review_at)  # the confirmation says it, in both languages
    review_at = p.partnership(renewing.pid).review_at
    p.advance(days=days_until(p, review_at))
    mails = p.new_mail()
    ask_en, ask_zh = for_address(mails, renewing.en)[-1], for_address(mails, renewing.zh)[-1]
    assert "Would you like to continue?" in ask_en.text and "贵馆是否希望继续合作" in ask_zh.text
    assert p.partnership(renewing.pid).state == "renewal"
    p.send(reply(ask_en, renewing.maria, "Yes, let's continue!"))
    p.step()
    assert p.new_mail() == [] and p.partnership(renewing.pid).state == "renewal"  # one more
    p.send(reply(ask_zh, renewing.wangli, "同意续签，谢谢！", client="qq"))
    p.step()
    mails = p.new_mail()
    renewed_en, renewed_zh = one(mails, renewing.en), one(mails, renewing.zh)
    partnership = p.partnership(renewing.pid)
    assert partnership.state == "active"
    # Another term of the MOU's duration (two years) from the previous review date.
    assert partnership.review_at == add_months(review_at, 24)
    assert "is renewed, and the next review date is" in renewed_en.text
    assert long_date(partnership.review_at.date(), "en") in renewed_en.text
    assert "合作已续签" in renewed_zh.text
    assert long_date(partnership.review_at.date(), "zh") in renewed_zh.text
    assert path_of(p, renewing.pid)[-2:] == [("review-due", "renewal"), ("accept", "active")]
    assert not (partnership.data or {}).get("review_asked")
    with p.services.db.unit_of_work() as s:
        due = s.scalars(
            select(Timer.due_at).where(
                Timer.record_id == renewing.pid,
                Timer.name == "review-due",
                Timer.status == "pending",
            )
        ).one()
    assert due == partnership.review_at  # the next review is scheduled on the new date


def test_resume_keeps_the_mou_review_date_and_both_yes_to_the_reminder_renews_while_active(
    program: ProgramUnderTest,
) -> None:
    p = program
    (pair,), _ = to_active(p, [(MOU_EN, MOU_ZH)])
    review_at = p.partnership(pair.pid).review_at
    assert review_at.date().isoformat() == "2028-03-01"  # the MOU's own review date
    for _ in range(3):  # quarterly check-ins nobody answers: the third finds it quiet
        p.advance(days=91)
    escalation = about(p.new_mail(), pair.pid)
    assert "the partnership has gone quiet" in escalation.text
    assert p.partnership(pair.pid).state == "stalled"
    p.send(reply(escalation, COORDINATOR, "resume", client="outlook"))
    p.step()
    assert p.new_mail() == []
    partnership = p.partnership(pair.pid)
    assert partnership.state == "active" and partnership.review_at == review_at  # not reset
    assert path_of(p, pair.pid)[-2:] == [("active-checkin", "stalled"), ("staff-resume", "active")]
    # Thirty days before the review date, still active: both are asked, and both say yes.
    p.advance(days=days_until(p, review_at - timedelta(days=30)))
    mails = p.new_mail()
    ask_en = [m for m in for_address(mails, pair.en) if "Would you like to continue?" in m.text]
    ask_zh = [m for m in for_address(mails, pair.zh) if "贵馆是否希望继续合作" in m.text]
    assert len(ask_en) == len(ask_zh) == 1
    assert p.partnership(pair.pid).state == "active"
    p.send(reply(ask_zh[0], pair.wangli, "同意，我们希望继续合作。", client="qq"))
    p.send(reply(ask_en[0], pair.maria, "Yes, we would like to renew.", client="gmail"))
    p.step()
    mails = p.new_mail()
    assert "is renewed" in one(mails, pair.en).text and "已续签" in one(mails, pair.zh).text
    partnership = p.partnership(pair.pid)
    assert partnership.state == "active"
    assert partnership.review_at == add_months(review_at, 24)  # another two-year term
    assert "renewal" not in [state for _, state in path_of(p, pair.pid)]


# -- 9. a lapsed offer is told to the library that said yes ------------------------------------------
def test_a_lapsed_offer_tells_the_english_side_that_said_yes_and_the_silent_chinese_side(
    program: ProgramUnderTest,
) -> None:
    # tests/test_workflow_paths.py covers a Chinese yes and an English silence; this is the mirror.
    p = program
    en, _ = offered(p)
    p.send(reply(en, f"Maria Lopez <{SEGOVIA}>", "Yes please!", client="gmail"))
    p.step()
    assert p.new_mail() == []
    for _ in range(3):
        p.advance(days=7)
    mails = p.new_mail()
    # Segovia gets only the news that it will not go ahead (never who did not answer).
    closed_en = one(mails, SEGOVIA)
    assert "This introduction will not go ahead this time." in closed_en.text
    assert not any(w in closed_en.text.lower() for w in ("declin", "did not answer", "no answer"))
    # Hangzhou: reminders at 7 and 14 days, then at 21 the suggestion is closed, in Chinese.
    *reminders, lapsed_zh = for_address(mails, HANGZHOU)
    assert len(reminders) == 2
    assert all("这次推荐已经关闭" not in m.text and SEGOVIA_NAME in m.text for m in reminders)
    assert "由于一直没有收到回复，这次推荐已经关闭" in lapsed_zh.text
    assert p.partnership(1).state == "lapsed"
    assert library_of(p, SEGOVIA).state == library_of(p, HANGZHOU).state == "seeking"
    assert "lapsed after 21 days" in about(mails, 1).text
