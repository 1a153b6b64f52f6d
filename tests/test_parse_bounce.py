"""Bounce detection over the golden files in tests/data/bounces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mailflow.parse.bounce import detect_bounce
from mailflow.parse.bouncetext import permanence
from mailflow.parse.facts import Bounce
from mailflow.parse.message import parse_bytes

DATA = Path(__file__).parent / "data"


EXPECTED = json.loads((DATA / "bounces" / "expected.json").read_text(encoding="utf-8"))


def test_every_golden_has_an_expectation() -> None:
    names = {p.name for p in (DATA / "bounces").glob("*.eml")}
    assert names == set(EXPECTED)
    assert sum(e["bounce"] for e in EXPECTED.values()) >= 80


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_bounces(name: str) -> None:
    """Each golden report (tests/data/bounces/expected.json): bounce or not, whom, for good."""
    expected = EXPECTED[name]
    raw = (DATA / "bounces" / name).read_bytes()
    found = detect_bounce(raw)
    if not expected["bounce"]:
        assert found is None
        return
    assert found is not None
    assert list(found.recipients) == expected["recipients"]
    assert found.permanent is expected["permanent"]
    assert detect_bounce(parse_bytes(raw)) == found  # bytes or a parsed Message
    # A report that returns our original (attached, as headers or quoted) ties to it by its
    # Message-ID; only ours are quoted in these goldens.
    if b"mf.outbox." in raw:
        assert found.message_ids and all(m.startswith("mf.outbox.") for m in found.message_ids)


GOLDEN_STATUSES = {
    "postfix_dsn_user_unknown.eml": ("5.1.1",),
    "postfix_delayed.eml": ("4.4.1",),
    "office365_ndr.eml": ("5.1.10",),
    "netease_tuixin.eml": (),
}


@pytest.mark.parametrize(("name", "statuses"), GOLDEN_STATUSES.items())
def test_golden_bounce_statuses(name: str, statuses: tuple[str, ...]) -> None:
    found = detect_bounce((DATA / "bounces" / name).read_bytes())
    assert found is not None and found.statuses == statuses


def test_content_rejection_and_message_id_quoted_in_text() -> None:
    """A text-only report that quotes the Message-ID and refuses the content as spam."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        b"To: sisters@program.example\nReturn-Path: <>\n"
        b"Subject: Undelivered Mail Returned to Sender\n\n"
        b"<amy@lib.example.org>: host mx.lib.example.org said:\n"
        b"    554 5.7.1 Message rejected as spam by content filter\n\n"
        b"Original message ID: <Mailflow.P1.abc@program.example>\n"
    )
    found = detect_bounce(raw)
    assert found is not None and found.recipients == ("amy@lib.example.org",)
    assert found.message_ids == ("Mailflow.P1.abc@program.example",)
    assert "5.7.1" in found.statuses and found.spam_verdict


@pytest.mark.parametrize("folder", ["mime", "autoreplies"])
def test_ordinary_mail_is_not_a_bounce(folder: str) -> None:
    paths = sorted((DATA / folder).glob("*.eml"))
    assert paths
    for path in paths:
        assert detect_bounce(path.read_bytes()) is None, path.name


def test_clear_bounce_without_recipients() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\n"
        b"To: bounces@program.example\n"
        b"Subject: failure notice\n"
        b"Date: Mon, 30 Nov 2026 10:00:00 +0000\n\n"
        b"Sorry, we were unable to deliver your message.\n"
    )
    # No code, no reason, no warning: the reporter gave up, which is taken as permanent.
    assert detect_bounce(raw) == Bounce((), True)


def test_person_quoting_bounce_text_is_not_a_bounce() -> None:
    raw = (
        b"From: Librarian <librarian@lib.example.org>\n"
        b"To: sisters@program.example\n"
        b"Subject: Re: your mail\n\n"
        b"I got this, what does it mean?\n"
        b"> This message was created automatically by mail delivery software.\n"
        b"> SMTP error from remote mail server after RCPT TO:<colleague@lib.example.org>:\n"
    )
    assert detect_bounce(raw) is None


def test_successful_delivery_report_is_not_a_bounce() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\n"
        b"Subject: Successful Mail Delivery Report\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nYour message was delivered.\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; friend@lib.example.org\n"
        b"Action: delivered\nStatus: 2.0.0\n"
        b"--b--\n"
    )
    assert detect_bounce(raw) is None


def test_mixed_report_keeps_permanent_failures_sorted_and_deduplicated() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\n"
        b"Subject: Undelivered Mail Returned to Sender\n"
        b"MIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nSome failed.\n"
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Reporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; Zed@Lib.Example.org\nAction: failed\nStatus: 5.2.1\n\n"
        b"Final-Recipient: rfc822; later@lib.example.org\nAction: delayed\nStatus: 4.2.2\n\n"
        b"Final-Recipient: rfc822; amy@lib.example.org\nAction: failed\nStatus: 5.1.1\n\n"
        b"Original-Recipient: rfc822; zed@lib.example.org\n"
        b"Final-Recipient: rfc822; zed@lib.example.org\nAction: failed\nStatus: 5.2.1\n"
        b"--b--\n"
    )
    assert detect_bounce(raw) == Bounce(
        ("amy@lib.example.org", "zed@lib.example.org"),
        True,
        statuses=("5.2.1", "4.2.2", "5.1.1"),  # no original returned: no Message-ID to tie it
    )


def test_garbage_is_not_a_bounce() -> None:
    assert detect_bounce(b"") is None
    assert detect_bounce(b"\x00\xff garbage \x80\x81\n\n\xfe") is None


def test_an_address_named_spam_is_no_spam_verdict() -> None:
    raw = (DATA / "bounces" / "postfix_dsn_user_unknown.eml").read_bytes()
    raw = raw.replace(b"old.contact@library.example.org", b"spam@antivirus-lib.example.org")
    raw = raw.replace(b"Old.Contact@Library.Example.org", b"spam@antivirus-lib.example.org")
    found = detect_bounce(raw)
    assert found is not None and found.recipients == ("spam@antivirus-lib.example.org",)
    assert found.statuses == ("5.1.1",) and not found.spam_verdict


@pytest.mark.parametrize(
    ("text", "permanent"),
    [
        ("550 5.1.1 <a@b.example>: Recipient address rejected: User unknown", True),
        ("552 5.2.2 Mailbox full", True),  # the code decides, not the words
        ("452 4.2.2 Mailbox full", False),
        ("Sorry, I couldn't find any host named x.example. (#5.1.2)", True),
        ("Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", False),
        ("554: delivery error: dd This user doesn't have an account", True),
        ("Recipient address rejected: Greylisted, please try again in 300 seconds", False),
        ("The recipient's mailbox is full and can't accept messages now.", False),
        ("This is a permanent error. Mailbox is full / Blocks limit exceeded", False),
        ("User tanaka (tanaka@x.example) not listed in Domino Directory", True),
        ("Host or domain name not found. Name service error for name=x.example", True),
        ("connect to mx.x.example[192.0.2.1]:25: Connection timed out", False),
        ("# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #", False),
        ("退信原因：收件人邮箱地址不存在", True),
        ("退信原因：收件人邮箱空间已满，请稍后重试。", False),
        ("理由： 宛先のメールアドレスが存在しません", True),
        ("原因: メールボックスの容量がいっぱいです。", False),
        ("Local mailbox kniga@mail.example.ru is unavailable: user not found", True),
        ("This is a permanent error; I've given up.", True),
        ("Sent: 11/24/2026 9:58 AM, call 555-1234 or port 465 at 192.0.2.45", None),
        ("Your message could not be delivered.", None),
        ("Grund: Das Postfach des Empfängers ist voll.", False),
        ("사유: 수신자의 메일함 용량이 초과되었습니다.", False),
        ("실패 사유: 받는 사람의 메일 주소가 존재하지 않습니다.", True),
        ("Alıcı adresi bulunamadı.", True),
    ],
)
def test_permanence_from_codes_then_words(text: str, permanent: bool | None) -> None:
    assert permanence(text) is permanent


def test_hostile_reports_are_read_not_crashed_on() -> None:
    """Deep JSON, a line of 30,000 '@', a word of 300,000 letters: an answer, not an error."""
    head = b"From: MAILER-DAEMON@x.example\nSubject: failure notice\nReturn-Path: <>\n\n"
    assert detect_bounce(b"From: a@b.example\nSubject: s\n\n" + b"[" * 100_000) is None
    found = detect_bounce(head + b"  " + b"a@" * 30_000 + b"\n (generated from x@y.example\n")
    assert found is not None and found.permanent is True
    found = detect_bounce(head + b"<lost@lib.example.org>: 550 5.1.1\n" + b"x" * 300_000 + b"\n")
    assert found is not None and found.recipients == ("lost@lib.example.org",)
    found = detect_bounce(head + b"Message-ID: <" + b"a@" * 20_000 + b"\n")  # was quadratic
    assert found is not None and found.message_ids == ()
    many = b" ".join(b"u%d@d%d.example.org" % (i, i) for i in range(5000))
    found = detect_bounce(head + many + b"\n")
    assert found is not None and 0 < len(found.recipients) <= 51  # bounded, not 5,000


def _text_report(sender: str, subject: str, body: str) -> bytes:
    return (
        f"From: {sender}\nTo: bounces@program.example\nSubject: {subject}\n"
        "Date: Tue, 01 Dec 2026 08:14:03 +0000\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()


@pytest.mark.parametrize(
    ("sender", "subject", "body", "recipients", "permanent"),
    [
        # Exchange's report openings in other languages, from its MicrosoftExchange<id> sender
        (
            "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@x.example>",
            "Your sister library",
            "Die Zustellung an folgende Empfänger oder Gruppen ist fehlgeschlagen:\n\n"
            "leser@bib.example.de\nRemote Server returned '550 5.1.1 User unknown'",
            ("leser@bib.example.de",),
            True,
        ),
        (
            "postmaster@x.example",
            "Recapito ritardato: La vostra biblioteca",
            "Il recapito ai seguenti destinatari o gruppi è stato ritardato:\n\nprestiti@b.example.it",
            ("prestiti@b.example.it",),
            False,
        ),
        (
            "Security Gateway <postmaster@gw.example>",
            "Message blocked",
            "Your message to: ref@lib.example.com was blocked.\nReason: 554 5.7.1 policy",
            ("ref@lib.example.com",),
            True,
        ),
    ],
)
def test_translated_and_filtering_reports(
    sender: str, subject: str, body: str, recipients: tuple[str, ...], permanent: bool
) -> None:
    found = detect_bounce(_text_report(sender, subject, body))
    assert found is not None
    assert found.recipients == recipients and found.permanent is permanent


def test_a_refusal_quoted_with_its_code_by_a_mail_system_is_a_bounce_in_any_language() -> None:
    raw = _text_report(
        "Microsoft Outlook <postmaster@x.example>",
        "Ei voi toimittaa: Sisarkirjastonne",
        "Tuntematon teksti:\n\nlainaus@k.example.fi\nRemote Server returned '550 5.1.1 Unknown'",
    )
    found = detect_bounce(raw)
    assert found is not None and found.recipients == ("lainaus@k.example.fi",) and found.permanent


def test_a_person_writing_about_a_returned_mail_is_no_bounce() -> None:
    raw = _text_report(
        "李明 <liming@t.example.cn>", "关于退信", "您上周发来的邮件被退回了，请重新发送。"
    )
    assert detect_bounce(raw) is None


def test_a_list_refusal_naming_no_address_fails_the_list_of_its_manager() -> None:
    raw = _text_report(
        "libs-coop-owner@lists.example.org",
        "Your message to Libs-coop rejected",
        "Your message to the Libs-coop mailing-list was rejected: not from a list member.",
    )
    found = detect_bounce(raw)
    assert found is not None and found.recipients == ("libs-coop@lists.example.org",)


def test_a_sending_service_delay_event_is_a_temporary_bounce() -> None:
    row = {"msys": {"message_event": {"type": "delay", "rcpt_to": "a@b.example"}}}
    raw = b"From: x@y.example\nSubject: batch\n\n" + json.dumps([row]).encode()
    found = detect_bounce(raw)
    assert found is not None and found.recipients == ("a@b.example",) and not found.permanent


def test_exchange_sender_without_report_words_is_no_bounce() -> None:
    raw = _text_report(
        "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@x.example>",
        "Message Recall Report for message: Your sister library",
        "Recall attempt failed for the following recipient: jo@x.example",
    )
    assert detect_bounce(raw) is None
