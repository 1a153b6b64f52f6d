"""The issue's promises about a library's own record, end to end: real mail in over SMTP, real
mail out, the database checked after each step.

4 contacts stay current without SQL; 5 a one-field correction completes an application;
6 hidden and withdrawn libraries come back only as the rules say; 7 every date a mail promises
is real and no mail shows a placeholder; 11 time zones as people write them.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.policy import default
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.parse.timezones import tzinfo_for
from mailflow.store.schema import (
    AttentionItem,
    Contact,
    DeadLetter,
    History,
    Library,
    Outbox,
    Timer,
)
from tests.helpers import (
    APPLICATION_EN,
    APPLICATION_ZH,
    STAFF,
    T0,
    application,
    mail,
)
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

SEGOVIA, HANGZHOU = "maria1@biblioteca.example.es", "wangli2@library.example.cn"
SEGOVIA_NAME, HANGZHOU_NAME = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"
ANA = "ana.ruiz@biblioteca.example.es"
LIU = "liuyang@library.example.cn"


@pytest.fixture
def program(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[ProgramUnderTest]:
    sink = SmtpSink().start()
    p = ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path)
    yield p
    # Whatever a test looked at: no template met a missing value (StrictUndefined raises, the
    # message is dead-lettered), and no mail that went out shows one.
    assert rows(p, select(DeadLetter)) == []
    for r in sink.received:
        sent = Sent(r.rcpt_tos, email.message_from_bytes(r.content, policy=default))
        for text in (sent.subject, sent.text):
            assert not any(w in text for w in ("None", "{{", "{%", "Undefined")), text
    p.close()
    sink.stop()


# -- helpers -----------------------------------------------------------------------------------
def rows(p: ProgramUnderTest, query) -> list:  # noqa: ANN001 - a select
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(query))


def history(p: ProgramUnderTest, library: Library, event: str | None = None) -> list[History]:
    query = select(History).where(History.record_type == "library", History.record_id == library.id)
    if event is not None:
        query = query.where(History.event == event)
    return rows(p, query.order_by(History.id))


def items(p: ProgramUnderTest, code: str) -> list[AttentionItem]:
    return rows(p, select(AttentionItem).where(AttentionItem.code == code))


def contacts(p: ProgramUnderTest, name: str) -> dict[str, str]:
    return {c.email: c.status for c in p.library(name).contacts}


def one(mails: list[Sent], address: str) -> Sent:
    (found,) = for_address(mails, address)
    return found


def listed(p: ProgramUnderTest, n: int = 1, lang: str = "en") -> Sent:
    """The n-th test application, sent and acknowledged; returns the acknowledgement."""
    p.send(application(n, lang=lang))
    p.step()
    address = SEGOVIA.replace("1@", f"{n}@") if lang == "en" else f"wangli{n}@library.example.cn"
    ack = one(p.new_mail(), address)
    assert "Sister Libraries list" in ack.subject or "寻找姐妹图书馆" in ack.subject
    return ack


def pending_timer(p: ProgramUnderTest, library: Library, name: str) -> Timer | None:
    found = rows(
        p,
        select(Timer).where(
            Timer.record_type == "library", Timer.record_id == library.id,
            Timer.name == name, Timer.status == "pending",
        ),
    )  # fmt: skip
    return found[0] if found else None


def library_of(p: ProgramUnderTest, address: str) -> Library:
    with p.services.db.unit_of_work() as s:
        contact = s.scalar(select(Contact).where(Contact.email == address))
        assert contact is not None, address
        library = contact.library
        library.contacts  # noqa: B018 - load before the session closes
        return library


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


INCOMPLETE_EN = """Hello,

Library name: Nairobi Community Library
Type of library: public
Country: Kenya
Contact person: John Mwangi
Working languages: English, Swahili
{extra}
Thank you
"""
JOHN = "john@nairobi-library.example.ke"


def incomplete_en(extra: str = "", sender: str = JOHN) -> bytes:
    return mail(
        sender=f"John Mwangi <{sender}>", subject="Sister library application",
        body=INCOMPLETE_EN.format(extra=extra),
    )  # fmt: skip


def incomplete_zh(sender: str = "zhou@library.example.cn", drop: str = "城市") -> bytes:
    body = APPLICATION_ZH.replace("wangli@library.example.cn", sender)
    body = "\n".join(line for line in body.splitlines() if not line.startswith(drop))
    return mail(sender=f"周敏 <{sender}>", subject="申请姐妹图书馆", body=body)


# == 4. Contacts stay current without SQL ======================================================
def test_contact_lines_in_the_yes_to_keep_listed_change_the_contact(
    program: ProgramUnderTest,
) -> None:
    p = program
    listed(p)
    listed(p, 2, lang="zh")
    p.advance(days=182)
    asks = p.new_mail()
    body = "Yes, please keep us listed.\n\nContact email: ana.ruiz@biblioteca.example.es\n"
    body += "Contact person: Ana Ruiz\n"
    p.send(reply(one(asks, SEGOVIA), f"Maria Lopez <{SEGOVIA}>", body), sender=SEGOVIA)
    body = "同意，继续保留。\n联系邮箱：liuyang@library.example.cn\n联系人：刘洋\n"
    p.send(reply(one(asks, HANGZHOU), f"王丽 <{HANGZHOU}>", body, client="qq"), sender=HANGZHOU)
    p.step()
    assert p.new_mail() == []  # understood: nobody needs to look at it, nothing to answer
    for name, old, new, person, was in (
        (SEGOVIA_NAME, SEGOVIA, ANA, "Ana Ruiz", "Maria Lopez"),
        (HANGZHOU_NAME, HANGZHOU, LIU, "刘洋", "王丽"),
    ):
        library = p.library(name)
        # The yes counted: still listed, the deadline is off.
        assert library.state == "seeking" and not library.hidden
        assert not library.data.get("awaiting_keep_listed") and library.data["listed_confirmed"]
        assert pending_timer(p, library, "keep-listed-expires") is None
        # The new address is the contact; the old one is kept, not mailed.
        assert contacts(p, name) == {new: "ok", old: "former"}
        assert library.fields["contact_email"] == new and library.fields["contact_name"] == person
        (update,) = history(p, library, "contact-update")
        assert f"{old} -> {new}" in update.note and f"{was} -> {person}" in update.note
    # The next mail (the next half-year check) goes to the new addresses only.
    p.advance(days=182)
    nxt = p.new_mail()
    assert sorted(m.to for m in nxt) == [(ANA,), (LIU,)]
    assert one(nxt, ANA).text.startswith("Dear Ana Ruiz,")
    assert one(nxt, LIU).text.startswith("刘洋，您好！")
    # Mail from the former address still finds the library.
    p.send(reply(one(nxt, ANA), f"Maria Lopez <{SEGOVIA}>", "Yes"), sender=SEGOVIA)
    p.step()
    assert p.library(SEGOVIA_NAME).data["awaiting_keep_listed"] is False
    assert for_address(p.new_mail(), STAFF) == []


def test_a_new_contact_email_in_an_offer_reply_redirects_the_next_mail(
    program: ProgramUnderTest,
) -> None:
    p = program
    listed(p)
    listed(p, 2, lang="zh")
    p.send(mail(sender=STAFF, subject="pair", body=f"pair {SEGOVIA_NAME} with {HANGZHOU_NAME}"))
    p.step()
    proposal = one(p.new_mail(), STAFF)
    p.send(reply(proposal, STAFF, "approve", client="outlook"), sender=STAFF)
    p.step()
    mails = p.new_mail()
    en, zh = one(mails, SEGOVIA), one(mails, HANGZHOU)
    # The offer names the day it lapses (promise 7: the timer is known before the mail is written).
    lapse = T0 + timedelta(days=21)
    assert f"Please answer by {lapse.day} {lapse:%B} {lapse.year}." in en.text
    assert f"请于{lapse.year}年{lapse.month}月{lapse.day}日之前回复" in zh.text
    body = (
        "Yes, we would love an introduction!\n\nNew contact email: ana.ruiz@biblioteca.example.es"
    )
    p.send(reply(en, f"Maria L. <{SEGOVIA}>", body), sender=SEGOVIA)
    p.step()
    segovia = p.library(SEGOVIA_NAME)
    assert contacts(p, SEGOVIA_NAME) == {ANA: "ok", SEGOVIA: "former"}
    # The display name "Maria L." is no contact person line: the person stays Maria Lopez.
    assert segovia.fields["contact_name"] == "Maria Lopez"
    assert "Maria L." not in {c.name for c in segovia.contacts}
    (update,) = history(p, segovia, "contact-update")
    assert f"{SEGOVIA} -> {ANA}" in update.note
    assert p.partnership(1).data["accepted"] == {str(segovia.id): True}  # the yes counted too
    # Nothing but contact lines, before deciding: understood in this state too, nobody asked.
    body = "我们的联系人有变动：\n联系人：刘洋\n联系邮箱：liuyang@library.example.cn"
    p.send(reply(zh, f"王丽 <{HANGZHOU}>", body, client="qq"), sender=HANGZHOU)
    p.step()
    assert p.new_mail() == [] and items(p, "needs-person") == []
    assert contacts(p, HANGZHOU_NAME) == {LIU: "ok", HANGZHOU: "former"}
    assert p.partnership(1).state == "offered"
    p.send(reply(zh, f"刘洋 <{LIU}>", "同意", client="qq"), sender=LIU)
    p.step()
    intro = p.new_mail()
    assert p.partnership(1).state == "trial"
    recipients = {a for m in intro for a in m.to}
    assert {ANA, LIU} <= recipients and not {SEGOVIA, HANGZHOU} & recipients
    # Each side is given the other's new address, never the old one.
    assert all(SEGOVIA not in m.text and HANGZHOU not in m.text for m in intro)
    assert all(ANA in m.text and LIU in m.text for m in intro)


def test_a_new_address_naming_an_existing_library_is_a_proposed_merge(
    program: ProgramUnderTest,
) -> None:
    p = program
    listed(p)
    listed(p, 2, lang="zh")
    body = APPLICATION_EN.replace("Contact person: Maria Lopez", "Contact person: Ana Ruiz")
    p.send(mail(sender=f"Ana Ruiz <{ANA}>", body=body.replace("maria@", "ana.ruiz@")), ANA)
    body = APPLICATION_ZH.replace("wangli@library.example.cn", LIU).replace("王丽", "刘洋")
    p.send(mail(sender=f"刘洋 <{LIU}>", subject="申请", body=body), sender=LIU)
    p.step()
    mails = p.new_mail()
    # Nothing is promised to the new addresses before staff decide, and no library is created.
    assert for_address(mails, ANA) == for_address(mails, LIU) == []
    assert len(rows(p, select(Library))) == 2
    proposals = for_address(mails, STAFF)
    assert len(proposals) == 2
    sent = rows(p, select(Outbox).where(Outbox.template == "staff-merge-proposal"))
    assert [r.recipients for r in sent] == [[STAFF], [STAFF]]
    en = next(m for m in proposals if ANA in m.text)
    zh = next(m for m in proposals if LIU in m.text)
    assert SEGOVIA_NAME in en.text and HANGZHOU_NAME in zh.text
    open_items = items(p, "merge-proposed")
    assert [i.resolved_at for i in open_items] == [None, None]
    assert {i.record_id for i in open_items} == {
        p.library(SEGOVIA_NAME).id, p.library(HANGZHOU_NAME).id
    }  # fmt: skip
    p.send(reply(en, STAFF, "merge", client="outlook"), sender=STAFF)
    p.send(reply(zh, STAFF, "合并", client="qq"), sender=STAFF)
    p.step()
    assert contacts(p, SEGOVIA_NAME) == {SEGOVIA: "ok", ANA: "ok"}
    assert contacts(p, HANGZHOU_NAME) == {HANGZHOU: "ok", LIU: "ok"}
    assert all(
        i.resolved_at is not None and i.resolved_by == STAFF for i in items(p, "merge-proposed")
    )
    assert len(rows(p, select(Library))) == 2
    # Mail from the new address now finds the library (a new mail, not a reply). It proves
    # nothing (anyone can write that From), so a listed library's record is not rewritten on its
    # word: staff get it as a proposed update, and `merge` would apply it.
    p.new_mail()
    p.send(mail(sender=f"Ana Ruiz <{ANA}>", subject="Correction", body="City: Toledo\n"), ANA)
    p.step()
    (proposed,) = p.new_mail()
    assert proposed.to == (STAFF,) and "proposed, not applied" in proposed.subject
    assert p.library(SEGOVIA_NAME).city == "Segovia" and p.library(SEGOVIA_NAME).state == "seeking"
    assert items(p, "needs-person") == items(p, "not-understood") == []


# == 5. A one-field correction completes an application =========================================
def test_a_one_field_correction_completes_the_application_in_both_languages(
    program: ProgramUnderTest,
) -> None:
    p = program
    zhou = "zhou@library.example.cn"
    no_languages = incomplete_en().replace(b"Working languages: English, Swahili\r\n", b"")
    p.send(no_languages, sender=JOHN)
    p.send(incomplete_zh(zhou), sender=zhou)
    p.step()
    mails = p.new_mail()
    ask_en, ask_zh = one(mails, JOHN), one(mails, zhou)
    assert "- City\r\n- Working languages" in ask_en.text and "- 城市" in ask_zh.text
    assert p.library("Nairobi Community Library").state == "incomplete"
    assert p.library(HANGZHOU_NAME).state == "incomplete"
    # One of two missing fields: merged, and asked only for the other one.
    p.send(reply(ask_en, f"John Mwangi <{JOHN}>", "City: Nairobi"), sender=JOHN)
    p.step()
    ask_en = one(p.new_mail(), JOHN)
    nairobi = p.library("Nairobi Community Library")
    assert nairobi.state == "incomplete" and nairobi.city == "Nairobi"
    assert nairobi.missing == ["languages"]
    assert "- Working languages" in ask_en.text and "- City" not in ask_en.text
    p.send(reply(ask_en, f"John Mwangi <{JOHN}>", "Working languages: English"), sender=JOHN)
    p.send(reply(ask_zh, f"周敏 <{zhou}>", "城市：杭州市", client="qq"), sender=zhou)
    p.step()
    mails = p.new_mail()
    ack_en, ack_zh = one(mails, JOHN), one(mails, zhou)
    nairobi, hangzhou = p.library("Nairobi Community Library"), p.library(HANGZHOU_NAME)
    assert nairobi.state == "seeking" and nairobi.city == "Nairobi" and nairobi.missing == []
    assert hangzhou.state == "seeking" and hangzhou.city == "杭州市" and hangzhou.missing == []
    assert "is now on the Sister Libraries list" in ack_en.subject
    assert "City: Nairobi" in ack_en.text
    assert "已列入" in ack_zh.subject and "城市：杭州市" in ack_zh.text
    for library in (nairobi, hangzhou):
        moves = [(h.event, h.from_state, h.to_state) for h in history(p, library)]
        assert moves[-1] == ("application", "incomplete", "seeking")


# == 6. Hidden and withdrawn libraries come back as the rules say ===============================
def test_hidden_and_withdrawn_libraries_come_back_only_as_the_rules_say(
    program: ProgramUnderTest,
) -> None:
    p = program
    # Segovia withdraws; John's application is incomplete and expires.
    ack = listed(p)
    p.send(reply(ack, f"Maria Lopez <{SEGOVIA}>", "Please withdraw our library."), SEGOVIA)
    p.step()
    bye = one(p.new_mail(), SEGOVIA)
    assert p.library(SEGOVIA_NAME).state == "withdrawn"
    assert f"we have taken {SEGOVIA_NAME} off the list" in bye.text
    p.send(incomplete_en(), sender=JOHN)
    p.step()
    ask = one(p.new_mail(), JOHN)
    # The mail names the day the application is set aside, and that is the day it happens.
    expires = T0 + timedelta(days=60)
    assert f"still incomplete on {expires.day} {expires:%B} {expires.year}," in ask.text
    name = "Nairobi Community Library"
    p.clock.set(expires - timedelta(hours=1))
    p.step()
    assert p.library(name).state == "incomplete"
    p.clock.set(expires)
    p.step()
    assert p.library(name).state == "hidden" and p.library(name).hidden
    p.new_mail()  # the weekly reminder
    # A "yes" does not complete anything: it is asked again for what is missing.
    p.send(reply(ask, f"John Mwangi <{JOHN}>", "Yes, we are still interested!"), sender=JOHN)
    p.step()
    again = one(p.new_mail(), JOHN)
    assert p.library(name).state == "incomplete" and "- City" in again.text
    expires = p.clock.now() + timedelta(days=60)
    assert f"still incomplete on {expires.day} {expires:%B} {expires.year}," in again.text
    # A partial form (still no city) leaves it off the list too.
    p.advance(days=60)
    assert p.library(name).state == "hidden"
    p.new_mail()
    partial = incomplete_en("Population served: 40,000\n")
    p.send(partial, sender=JOHN)
    p.step()
    again = one(p.new_mail(), JOHN)
    library = p.library(name)
    assert library.state == "incomplete" and library.missing == ["city"]
    assert library.fields["size"] == "40,000"
    assert "- City" in again.text
    # A complete form lists it again and acknowledges it.
    p.send(incomplete_en("City: Nairobi\n"), sender=JOHN)
    p.step()
    ack = one(p.new_mail(), JOHN)
    library = p.library(name)
    assert library.state == "seeking" and not library.hidden
    assert "is now on the Sister Libraries list" in ack.subject
    states = [(h.from_state, h.to_state) for h in history(p, library) if h.from_state]
    assert ("incomplete", "hidden") in states and ("hidden", "incomplete") in states
    # Months later Segovia writes again with a new application: re-opened and acknowledged,
    # and its history still shows the withdrawal.
    assert for_address(p.new_mail(), SEGOVIA) == []  # nothing reached it while withdrawn
    p.send(application(1), sender=SEGOVIA)
    p.step()
    again = one(p.new_mail(), SEGOVIA)
    segovia = p.library(SEGOVIA_NAME)
    assert segovia.state == "seeking" and not segovia.hidden
    assert "is now on the Sister Libraries list" in again.subject
    moves = [(h.event, h.from_state, h.to_state) for h in history(p, segovia)]
    assert ("withdrawal", "seeking", "withdrawn") in moves
    assert moves[-1] == ("application", "withdrawn", "seeking")
    assert len(rows(p, select(Library))) == 2


# == 7. Every date a mail promises is real =====================================================
def test_keep_listed_states_its_deadline_yes_keeps_it_and_silence_hides_on_that_date(
    program: ProgramUnderTest,
) -> None:
    p = program
    listed(p)  # English, stays silent
    listed(p, 2, lang="zh")  # Chinese, stays silent
    listed(p, 3)  # English, says yes
    listed(p, 3, lang="zh")  # Chinese, says yes
    silent, yes = (
        (SEGOVIA, HANGZHOU),
        ("maria3@biblioteca.example.es", "wangli3@library.example.cn"),
    )
    p.advance(days=182)
    asks = {m.to[0]: m for m in p.new_mail()}
    assert set(asks) == {*silent, *yes}
    due = set()
    for address in asks:
        timer = pending_timer(p, library_of(p, address), "keep-listed-expires")
        assert timer is not None
        due.add(aware(timer.due_at))
    (d,) = due
    assert d == T0 + timedelta(days=212)  # 30 days after the check was due
    for address in (SEGOVIA, yes[0]):
        assert f"If we do not hear from you by {d.day} {d:%B} {d.year}," in asks[address].text
    for address in (HANGZHOU, yes[1]):
        assert f"如在{d.year}年{d.month}月{d.day}日之前没有收到回复" in asks[address].text
    # Yes, from display names that are not the contact person's name.
    p.send(reply(asks[yes[0]], f"Maria L. <{yes[0]}>", "Yes, keep us on the list."), yes[0])
    p.send(reply(asks[yes[1]], f"小王 <{yes[1]}>", "同意", client="163"), yes[1])
    p.step()
    assert p.new_mail() == []
    for address, person in zip(yes, ("Maria Lopez", "王丽"), strict=True):
        library = library_of(p, address)
        assert pending_timer(p, library, "keep-listed-expires") is None
        assert library.data["listed_confirmed"] and not library.data["awaiting_keep_listed"]
        # A reply's display name never overwrites the contact person.
        assert library.fields["contact_name"] == person
        assert [c.name for c in library.contacts] == [person]
        assert history(p, library, "contact-update") == []
    # Silence: listed an hour before the date the mail named, hidden on it.
    p.clock.set(d - timedelta(hours=1))
    p.step()
    assert {library_of(p, a).state for a in asks} == {"seeking"}
    p.clock.set(d)
    p.step()
    for address in silent:
        library = library_of(p, address)
        assert library.state == "hidden" and library.hidden
        (hid,) = [h for h in history(p, library) if h.event == "keep-listed-expires"]
        assert aware(hid.created_at) == d
    for address in yes:
        library = library_of(p, address)
        assert library.state == "seeking" and not library.hidden
    assert p.new_mail() == []


ENGLISH_PLACEHOLDERS = ("not given", "None", "unknown", "(name", "N/A", "null")


def test_a_chinese_application_without_a_name_gets_no_english_placeholders(
    program: ProgramUnderTest,
) -> None:
    p = program
    zhou = "zhou@library.example.cn"
    p.send(incomplete_zh(zhou, drop="图书馆名称"), sender=zhou)
    p.step()
    (ask,) = p.new_mail()
    assert ask.to == (zhou,)
    library = rows(p, select(Library))[0]
    assert library.state == "incomplete" and "library_name" in library.missing
    assert "- 图书馆名称" in ask.text
    for text in (ask.subject, ask.text):
        assert not any(word in text for word in ENGLISH_PLACEHOLDERS), text
    assert "感谢您提交申请" in ask.text  # the sentence reads without the name
    d = T0 + timedelta(days=60)
    assert f"如在{d.year}年{d.month}月{d.day}日之前仍未补全" in ask.text
    # Its acknowledgement, once complete, leaves the fields it was not given out.
    p.send(reply(ask, f"周敏 <{zhou}>", "图书馆名称：临安区图书馆", client="qq"), sender=zhou)
    p.step()
    (ack,) = p.new_mail()
    assert "临安区图书馆" in ack.subject
    assert "网站" not in ack.text and "时区" not in ack.text  # never given: no empty line
    assert not any(word in ack.text for word in ENGLISH_PLACEHOLDERS)


# == 11. Time zones as people write them =======================================================
ZONES = {  # as written -> canonical
    "UTC+8": "UTC+08:00",
    "GMT-05:00": "UTC-05:00",
    "America/New_York (UTC-5)": "America/New_York",
    "Asia/Shanghai": "Asia/Shanghai",
}


def test_a_written_time_zone_is_stored_canonically_and_holds_reminders(
    program: ProgramUnderTest,
) -> None:
    p = program
    senders = {}
    for n, written in enumerate(ZONES):
        senders[written] = sender = f"librarian{n}@nairobi-library.example.ke"
        body = incomplete_en(f"Time zone: {written}\n", sender=sender)
        p.send(body.replace(b"Nairobi Community", f"Branch {n}".encode()), sender=sender)
    p.step()
    assert len(p.new_mail()) == len(ZONES)
    assert items(p, "timezone") == []
    # The first reminders fall due on a Saturday morning (UTC): each waits for Monday 09:00
    # where its reader is. Monday 09:00 in Shanghai (and UTC+8) is 01:00 UTC, in New York (and
    # UTC-5, in November) 14:00 UTC.
    asia = {(senders["UTC+8"],), (senders["Asia/Shanghai"],)}
    america = {(senders["GMT-05:00"],), (senders["America/New_York (UTC-5)"],)}
    p.clock.advance(timedelta(days=7))
    p.step()
    assert p.new_mail() == []
    monday = datetime(2026, 11, 30, tzinfo=UTC)
    p.clock.set(monday + timedelta(minutes=59))
    p.step()
    assert p.new_mail() == []
    p.clock.set(monday + timedelta(hours=1))
    p.step()
    assert {m.to for m in p.new_mail()} == asia
    p.clock.set(monday + timedelta(hours=13, minutes=59))
    p.step()
    assert p.new_mail() == []
    p.clock.set(monday + timedelta(hours=14))
    p.step()
    assert {m.to for m in p.new_mail()} == america
    start = p.services.program.work_start
    for n, (written, canonical) in enumerate(ZONES.items()):
        library = p.library(f"Branch {n} Library")
        assert library.timezone == canonical, written
        (row,) = rows(
            p,
            select(Outbox).where(
                Outbox.template == "library-missing-reminder", Outbox.record_id == library.id
            ),
        )
        zone = tzinfo_for(canonical)
        assert zone is not None
        local = aware(row.sent_at).astimezone(zone)  # the clock stood at the held time
        assert local.weekday() == 0 and local.time() == start == time(9, 0), (written, local)


def test_an_unreadable_time_zone_goes_to_staff_once_never_as_utc(
    program: ProgramUnderTest,
) -> None:
    p = program
    p.send(incomplete_en("Time zone: teatime\nCity: Nairobi\n"), sender=JOHN)
    p.step()
    mails = p.new_mail()
    notice = one(mails, STAFF)
    assert "teatime" in notice.text
    assert "is now on the Sister Libraries list" in one(mails, JOHN).subject
    library = p.library("Nairobi Community Library")
    assert library.timezone is None  # not UTC, not anything: a person is asked
    (item,) = items(p, "timezone")
    assert item.resolved_at is None and item.record_id == library.id
    # The same library, the same words again (answering our mail): not flagged a second time.
    again = reply(one(mails, JOHN), f"John Mwangi <{JOHN}>", "Time zone: teatime\nCity: Nairobi\n")
    p.send(again, sender=JOHN)
    p.step()
    assert for_address(p.new_mail(), STAFF) == []
    assert len(items(p, "timezone")) == 1
    assert p.library("Nairobi Community Library").timezone is None


def test_staff_contact_command_changes_a_librarys_contact(program: ProgramUnderTest) -> None:
    p = program
    ack = listed(p)
    # Someone new answers the library's mail: not its contact, so a person decides.
    news = "Maria has retired; I look after the partnership now."
    p.send(reply(ack, f"Ana Ruiz <{ANA}>", news), sender=ANA)
    p.step()
    asked = one(p.new_mail(), STAFF)
    (item,) = items(p, "needs-person")
    assert item.resolved_at is None and item.record_id == p.library(SEGOVIA_NAME).id
    assert contacts(p, SEGOVIA_NAME) == {SEGOVIA: "ok"}  # nothing changed by itself
    p.send(reply(asked, STAFF, f"contact {ANA} Ana Ruiz", client="outlook"), sender=STAFF)
    p.step()
    assert for_address(p.new_mail(), STAFF) == []  # done, no "which library?" answer
    segovia = p.library(SEGOVIA_NAME)
    assert contacts(p, SEGOVIA_NAME) == {ANA: "ok", SEGOVIA: "former"}
    assert segovia.fields["contact_name"] == "Ana Ruiz"
    (update,) = history(p, segovia, "contact-update")
    assert f"{SEGOVIA} -> {ANA}" in update.note and "Maria Lopez -> Ana Ruiz" in update.note
    (item,) = items(p, "needs-person")
    assert item.resolved_at is not None and item.resolved_by == STAFF
    # The Chinese word does the same, here answering a staff notice about the library.
    p.send(reply(ack, f"Ana Ruiz <{ANA}>", "Time zone: teatime"), sender=ANA)
    p.step()
    notice = one(p.new_mail(), STAFF)
    p.send(reply(notice, STAFF, "联系人 zhang@lib.example 张伟", client="qq"), sender=STAFF)
    p.step()
    assert contacts(p, SEGOVIA_NAME) == {
        "zhang@lib.example": "ok", ANA: "former", SEGOVIA: "former",
    }  # fmt: skip
    assert p.library(SEGOVIA_NAME).fields["contact_name"] == "张伟"
    assert len(history(p, segovia, "contact-update")) == 2
    (flagged,) = items(p, "timezone")
    assert flagged.resolved_at is not None
    # The next mail to the library goes to the new contact.
    p.advance(days=182)
    assert [m.to for m in p.new_mail()] == [("zhang@lib.example",)]
