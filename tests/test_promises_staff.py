"""The staff side's promises: `note` on every mail that invites it, the needs-a-person queue
and its digest, staff mail in every configured locale (with the mentor named), and the photos
and documents libraries send kept as the activity's attachments (`show`, `attachment`)."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from mailflow import admin
from mailflow.cli import main
from mailflow.store.schema import Activity, AttentionItem, History, MessageFacts
from tests.data.make_docx import make_docx
from tests.helpers import (
    APPLICATION_EN,
    PROGRAM,
    SECRET,
    STAFF,
    application,
    bounce_for,
    mail,
)
from tests.program import ProgramUnderTest, Sent, for_address, reply
from tests.servers.dovecot import Dovecot, MailUser
from tests.servers.smtp_sink import SmtpSink

SEGOVIA, HANGZHOU = "maria1@biblioteca.example.es", "wangli2@library.example.cn"
SEGOVIA_NAME, HANGZHOU_NAME = "Biblioteca Municipal de Segovia", "杭州市西湖区图书馆"
STRANGER = "reader@town.example"
# A tiny JPEG: start-of-image, a JFIF header, end-of-image (what mailflow keeps is its size).
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9") + b"\x00" * 40


@pytest.fixture
def start(
    db_url: str, dovecot: Dovecot, dovecot_user: MailUser, tmp_path: Path
) -> Iterator[Callable[..., ProgramUnderTest]]:
    """A program under test, with extra settings by env names."""
    made: list[tuple[ProgramUnderTest, SmtpSink]] = []

    def make(**env: str) -> ProgramUnderTest:
        sink = SmtpSink().start()
        made.append((ProgramUnderTest(db_url, dovecot, dovecot_user, sink, tmp_path, **env), sink))
        return made[-1][0]

    yield make
    for p, sink in made:
        p.close()
        sink.stop()


def cli(db_url: str, tmp_path: Path, **env: str) -> Callable[..., Result]:
    """`mailflow ...` against the program's database, as an operator would run it."""
    runner = CliRunner(
        env={
            "MAILFLOW_DATABASE_URL": db_url,
            "MAILFLOW_PROGRAM_SECRET": SECRET,
            "MAILFLOW_PROGRAM_ADDRESS": PROGRAM,
            "MAILFLOW_PROGRAM_STAFF": STAFF,
            "MAILFLOW_STAFF_TRUSTED_AUTHSERV_IDS": "mx.program.example",
            "MAILFLOW_INBOUND_LISTEN": "off",
            "MAILFLOW_OUTBOUND_TRANSPORT": "maildir",
            "MAILFLOW_OUTBOUND_MAILDIR": str(tmp_path / "outgoing"),
            "MAILFLOW_CONFIG": "",
            **env,
        }  # fmt: skip
    )
    return lambda *args: runner.invoke(main, list(args))


def proposed(p: ProgramUnderTest, a: int = 1, b: int = 2) -> Sent:
    """Applications a (Spanish) and b (Chinese) arrive; staff pair them: the proposal mail."""
    p.send(application(a))
    p.send(application(b, lang="zh"))
    p.step()
    p.new_mail()
    names = (SEGOVIA_NAME if a == 1 else f"#{a}", HANGZHOU_NAME if b == 2 else f"#{b}")
    p.send(mail(sender=STAFF, subject="pair", body=f"pair {names[0]} with {names[1]}"), STAFF)
    p.step()
    (proposal,) = for_address(p.new_mail(), STAFF)
    return proposal


def offered(p: ProgramUnderTest, proposal: Sent) -> tuple[Sent, Sent]:
    p.send(reply(proposal, STAFF, "approve", client="outlook"), STAFF)
    p.step()
    mails = p.new_mail()
    (en,), (zh,) = for_address(mails, SEGOVIA), for_address(mails, HANGZHOU)
    return en, zh


def in_trial(p: ProgramUnderTest, proposal: Sent) -> Sent:
    """Both libraries say yes: the introduction (mentor in copy)."""
    en, zh = offered(p, proposal)
    p.send(reply(en, f"Maria Lopez <{SEGOVIA}>", "Yes, we would love to!"), SEGOVIA)
    p.send(reply(zh, f"王丽 <{HANGZHOU}>", "好的，我们同意。", client="qq"), HANGZHOU)
    p.step()
    (intro,) = p.new_mail()
    assert p.partnership(1).state == "trial"
    return intro


def items(p: ProgramUnderTest) -> list[AttentionItem]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(AttentionItem).order_by(AttentionItem.id)))


def outcome_of(p: ProgramUnderTest, subject_part: str) -> str | None:
    with p.services.db.unit_of_work() as s:
        codes = [
            f.outcome_code
            for f in s.scalars(select(MessageFacts).order_by(MessageFacts.id))
            if subject_part in f.subject
        ]
    assert codes, f"no message with {subject_part!r} in its subject"
    return codes[-1]


def activities(p: ProgramUnderTest) -> list[Activity]:
    with p.services.db.unit_of_work() as s:
        return list(s.scalars(select(Activity).order_by(Activity.id)))


def library_notes(p: ProgramUnderTest, library_id: int) -> list[str]:
    with p.services.db.unit_of_work() as s:
        rows = s.scalars(
            select(History).where(
                History.record_type == "library",
                History.record_id == library_id,
                History.event == "note",
            )
        )
        return [h.note for h in rows]


# -- 10. `note` on every mail that invites it; the needs-a-person queue -------------------------


def test_note_on_needs_person_merge_and_proposal_mails_is_kept_and_resolves(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    proposal = proposed(p)
    # A stranger's question nobody can act on, and a second address for Segovia's library.
    p.send(mail(sender=STRANGER, subject="Opening hours?", body="When are you open?"), STRANGER)
    second = APPLICATION_EN.replace("maria@", "director@")
    p.send(mail(sender="Director <director@biblioteca.example.es>", body=second))
    p.step()
    mails = for_address(p.new_mail(), STAFF)
    (needs,) = [m for m in mails if "Opening hours?" in m.subject]
    (merge,) = [m for m in mails if m is not needs]
    assert "director@biblioteca.example.es" in merge.text
    # Each says a note is an answer it takes (its front matter: expects [..., note]).
    assert all('"note" followed by your text' in m.text for m in (needs, merge, proposal))
    opened = {i.code: i for i in items(p)}
    # Not understood (the stranger is told so once) and needing a person: one open item.
    assert set(opened) == {"not-understood", "merge-proposed"}
    assert all(i.resolved_at is None for i in opened.values())

    p.clock.advance(timedelta(hours=2))
    p.send(reply(needs, STAFF, "note Called the reader: we are not a public library."), STAFF)
    p.send(reply(merge, STAFF, "备注 馆长的新地址，下周确认后再合并。", client="qq"), STAFF)
    p.send(reply(proposal, STAFF, "note Both directors met at IFLA; likely a good pair."), STAFF)
    p.step()
    now = p.clock.now()

    # needs-a-person: no record, so the note is kept on the item, which is resolved by whom, when.
    done = {i.code: i for i in items(p)}
    assert len(done) == 2  # the notes opened nothing new
    item = done["not-understood"]
    assert item.resolved_by == STAFF and item.resolved_at == now
    assert "Called the reader: we are not a public library." in item.resolution
    # merge proposal: the note goes on the library's history, and the item is resolved.
    assert done["merge-proposed"].resolved_by == STAFF
    assert done["merge-proposed"].resolved_at == now
    assert any("馆长的新地址，下周确认后再合并。" in n for n in library_notes(p, 1))
    assert [c.email for c in p.library(SEGOVIA_NAME).contacts] == [SEGOVIA]  # noted, not merged
    # proposal: kept on the partnership as a note activity; the proposal still waits.
    (note,) = activities(p)
    assert note.kind == "note" and note.text == "Both directors met at IFLA; likely a good pair."
    assert p.partnership(1).state == "proposed"
    for subject in ("Re: Proposal #1", "Re: Needs a person", "回复：" + merge.subject):
        assert outcome_of(p, subject) == "staff-command"
    assert p.new_mail() == []  # a note is kept, not answered


def test_note_on_escalation_and_notice_mails_is_kept_and_resolves(
    start: Callable[..., ProgramUnderTest],
) -> None:
    p = start()
    en, zh = offered(p, proposed(p))
    # Segovia's address bounces: a notice (library unreachable) to staff, an open item.
    # Over IMAP: the DSN's long lines are no SMTP mail. It returns the offer we sent Segovia.
    p.deliver(bounce_for(SEGOVIA, str(en.msg["Message-ID"])))
    p.step()
    (notice,) = p.new_mail()
    assert notice.to == (STAFF,) and '"note" followed by your text' in notice.text
    # Nobody answers the offer in 21 days: it lapses, an escalation to staff, an open item.
    p.advance(days=21)
    (escalation,) = for_address(p.new_mail(), STAFF)
    assert p.partnership(1).state == "lapsed"
    assert '"note" followed by your text' in escalation.text
    assert {i.code for i in items(p) if i.resolved_at is None} == {"notice", "escalation"}

    p.send(reply(notice, STAFF, "备注 已打电话给塞戈维亚，新地址下周到。", client="qq"), STAFF)
    p.send(reply(escalation, STAFF, "note Hangzhou is closed for the holidays."), STAFF)
    p.step()
    assert len(items(p)) == 2  # the notes opened nothing new
    assert all(i.resolved_by == STAFF and i.resolved_at == p.clock.now() for i in items(p))
    assert any("已打电话给塞戈维亚，新地址下周到。" in n for n in library_notes(p, 1))
    (note,) = activities(p)
    assert note.kind == "note" and note.text == "Hangzhou is closed for the holidays."
    assert p.partnership(1).state == "lapsed" and p.library(SEGOVIA_NAME).state == "unreachable"
    # `show` prints the notes: the library's from its history, the partnership's activity.
    with p.services.db.unit_of_work() as s:
        library = admin.format_show(admin.show(s, "library", 1))
        partnership = admin.format_show(admin.show(s, "partnership", 1))
    notes = library.split("\nnotes:\n", 1)[1]
    assert f"note by {STAFF}: 已打电话给塞戈维亚，新地址下周到。" in notes
    notes = partnership.split("\nnotes:\n", 1)[1]
    assert f"note by {STAFF}: Hangzhou is closed for the holidays." in notes


def test_the_digest_lists_every_open_item_and_nothing_resolved(
    start: Callable[..., ProgramUnderTest],
) -> None:
    # Every notice mailed on its own (not batched into the digest), to answer two by note.
    p = start(MAILFLOW_LIMITS_STAFF_NOTICES_PER_HOUR="100")
    p.send(application(1))
    for n in range(53):  # more than any fixed cap of 50 would show
        p.send(mail(sender=f"reader{n}@town.example", subject=f"Question {n}", body="Hours?"))
    p.step()
    needs = {m.subject: m for m in for_address(p.new_mail(), STAFF)}
    assert len(needs) == 53 and len(items(p)) == 53
    for n in (7, 41):
        (sent,) = [m for s, m in needs.items() if s.endswith(f"Question {n}")]
        p.send(reply(sent, STAFF, f"note answered reader {n} by phone"), STAFF)
    # status is a staff answer: not an item needing a person, not in the digest.
    p.send(mail(sender=STAFF, subject="where is Segovia", body=f"status {SEGOVIA_NAME}"), STAFF)
    p.step()
    (status,) = p.new_mail()
    assert status.to == (STAFF,) and "seeking" in status.text
    assert outcome_of(p, "where is Segovia") == "staff-answer"
    assert len(items(p)) == 53  # the notes and the status opened nothing
    resolved = {i.id for i in items(p) if i.resolved_at is not None}
    assert len(resolved) == 2
    assert all(i.resolved_by == STAFF for i in items(p) if i.id in resolved)

    p.clock.advance(timedelta(days=1))
    assert p.runtime.digest()  # the scheduler's daily tick
    p.step()
    (digest,) = p.new_mail()
    assert digest.to == (STAFF,) and "digest" in digest.subject
    listed = {int(n) for n in re.findall(r"^- #(\d+) from ", digest.text, flags=re.M)}
    assert listed == {i.id for i in items(p)} - resolved and len(listed) == 51
    assert "Messages that need a person (51)" in digest.text
    assert "answered reader" not in digest.text and "where is Segovia" not in digest.text
    assert "Question 7" not in digest.text and "Question 41" not in digest.text
    assert not p.runtime.digest()  # once a day


# -- 12. staff mail in every configured locale; the mentor named --------------------------------


CJK = re.compile(r"[\u4e00-\u9fff]")


def test_staff_mail_in_chinese_and_the_mentor_named(
    start: Callable[..., ProgramUnderTest], db_url: str, tmp_path: Path
) -> None:
    env = {"MAILFLOW_TEMPLATES_DEFAULT_LOCALE": "zh", "MAILFLOW_PROGRAM_MENTOR_NAME": "Ana Ruiz"}
    p = start(**env)
    proposal = proposed(p)
    assert proposal.subject.startswith("配对建议 #1") and "匹配度" in proposal.text
    intro = in_trial(p, proposal)
    assert STAFF in intro.to and STAFF in str(intro.msg["Cc"])
    # The introduction names the mentor, in each library's language.
    assert f"Your mentor, Ana Ruiz ({STAFF})" in intro.text
    assert f"联络导师Ana Ruiz（{STAFF}）" in intro.text
    # A second pair is offered and lapses: the escalation goes to staff in Chinese.
    p.send(application(3))
    p.send(application(4, lang="zh"))
    p.step()
    p.new_mail()
    p.send(mail(sender=STAFF, subject="pair", body="pair #3 with #4"), STAFF)
    p.step()
    (second,) = for_address(p.new_mail(), STAFF)
    assert second.subject.startswith("配对建议 #2")
    p.send(reply(second, STAFF, "批准", client="qq"), STAFF)
    p.step()
    p.new_mail()
    p.advance(days=21)
    (escalation,) = for_address(p.new_mail(), STAFF)
    assert escalation.subject.startswith("需要关注") and CJK.search(escalation.text)
    assert p.partnership(2).state == "lapsed"
    # A stranger's mail: the needs-a-person mail, and the digest, in Chinese too.
    p.send(mail(sender=STRANGER, subject="Opening hours?", body="When are you open?"), STRANGER)
    p.step()
    (needs,) = for_address(p.new_mail(), STAFF)
    assert needs.subject.startswith("需要人工处理")
    assert p.runtime.digest()
    p.step()
    (digest,) = p.new_mail()
    assert digest.subject.startswith("姐妹图书馆每日摘要")
    assert "Opening hours?" in digest.text and "Messages that need" not in digest.text
    for staff_mail in (proposal, second, escalation, needs, digest):
        # Written in Chinese, and it says how to answer (a note, 备注) in Chinese.
        assert "备注" in staff_mail.text and "Reply" not in staff_mail.text
        assert "Answer" not in staff_mail.text and CJK.search(staff_mail.subject)
    check = cli(db_url, tmp_path, **env)("rules", "check")
    assert check.exit_code == 0, check.output


# -- 13. attachments kept, shown, and given back -------------------------------------------------


def with_attachments(raw: bytes, *files: tuple[bytes, str, str, str]) -> bytes:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    for data, maintype, subtype, filename in files:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


DOCX = ("application", "vnd.openxmlformats-officedocument.wordprocessingml.document")


def test_checkin_photos_and_documents_are_kept_shown_and_given_back(
    start: Callable[..., ProgramUnderTest],
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = start()
    proposal = proposed(p)
    p.send(reply(proposal, STAFF, "备注 两位馆长在国际图联大会上见过面。", client="qq"), STAFF)
    p.step()
    in_trial(p, proposal)
    p.advance(days=30)
    mails = p.new_mail()
    (checkin_en,), (checkin_zh,) = for_address(mails, SEGOVIA), for_address(mails, HANGZHOU)
    assert "what did you do together" in checkin_en.text.lower()
    assert "一起做了什么" in checkin_zh.text or "合作" in checkin_zh.text
    report = (
        "We exchanged ten picture books.\nThe children wrote letters.\nPhotos attached.\n"
        "Line four.\nLine five.\nLine six is long enough to be trimmed away in the listing."
    )
    docx = make_docx(("Activity report", "Ten picture books exchanged"))
    p.send(
        with_attachments(
            reply(checkin_en, f"Maria Lopez <{SEGOVIA}>", report, client="gmail"),
            (JPEG, "image", "jpeg", "class.jpg"),
            (docx, *DOCX, "report.docx"),
        ),
        SEGOVIA,
    )
    p.send(
        with_attachments(
            reply(checkin_zh, f"王丽 <{HANGZHOU}>", "我们举办了一次联合读书会。", client="qq"),
            (JPEG, "image", "jpeg", "读书会.jpg"),
        ),
        HANGZHOU,
    )
    p.step()
    assert [m for m in p.new_mail() if m.to != (STAFF,)] == []  # a report is not answered
    note, en, zh = activities(p)
    assert note.kind == "note" and note.attachments is None
    assert (en.library_id, en.kind) == (1, "report") and en.text.startswith("We exchanged ten")
    assert en.attachments == [
        {"filename": "class.jpg", "content_type": "image/jpeg", "size": len(JPEG), "part": 0},
        {"filename": "report.docx", "content_type": "/".join(DOCX), "size": len(docx), "part": 1},
    ]
    assert (zh.library_id, zh.text) == (2, "我们举办了一次联合读书会。")
    assert zh.attachments == [
        {"filename": "读书会.jpg", "content_type": "image/jpeg", "size": len(JPEG), "part": 0}
    ]

    monkeypatch.chdir(tmp_path)
    run = cli(db_url, tmp_path)
    shown = run("show", "p1")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "activities:" in out
    assert f"l1 {SEGOVIA_NAME}" in out and "report" in out
    assert "We exchanged ten picture books." in out and "Line six" not in out
    assert f"class.jpg (image/jpeg, {len(JPEG)} bytes)" in out
    assert f"report.docx ({'/'.join(DOCX)}, {len(docx)} bytes)" in out
    assert "我们举办了一次联合读书会。" in out and "读书会.jpg" in out
    assert "两位馆长在国际图联大会上见过面。" in out  # the staff note
    assert en.created_at.date().isoformat() in out

    got = run("attachment", str(en.id), "1", "-o", str(tmp_path / "back.docx"))
    assert got.exit_code == 0, got.output
    assert (tmp_path / "back.docx").read_bytes() == docx
    photo = run("attachment", str(zh.id), "0")
    assert photo.exit_code == 0 and photo.stdout_bytes == JPEG
    with p.services.db.unit_of_work() as s, pytest.raises(LookupError, match="no attachment 5"):
        admin.attachment(s, en.id, 5)
