"""Auto-reply detection and return dates over tests/data/autoreplies (and inline cases)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailflow.parse.autoreply import detect_auto_reply, return_date
from mailflow.parse.message import decode
from mailflow.parse.pipeline import parse_message

DATA = Path(__file__).parent / "data"


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "until"),
    [
        ("exchange_oof.eml", utc(2026, 12, 7)),  # "until Monday, 7 December 2026"
        ("gmail_vacation.eml", utc(2026, 12, 14)),  # "returning 2026-12-14"
        ("netease_autoreply_gbk.eml", utc(2026, 12, 3)),  # "我将于12月3日回来", sent 25 Nov 2026
        ("qq_autoreply.eml", utc(2026, 12, 11)),  # "我将于2026年12月11日返回"
        ("spanish_oof.eml", utc(2027, 1, 15)),  # "hasta el 15 de enero de 2027"
        ("french_oof.eml", utc(2027, 1, 4)),  # "jusqu'au 4 janvier", sent 20 Dec 2026
        ("german_oof.eml", utc(2027, 1, 7)),  # "bis zum 07.01.2027"
        ("german_ausser_haus.eml", utc(2027, 1, 4)),  # "Ab dem 4.1. ... wieder"
    ],
)
def test_golden_auto_replies(name: str, until: datetime) -> None:
    msg = decode((DATA / "autoreplies" / name).read_bytes())
    assert detect_auto_reply(msg) == (True, until)


def test_netease_gbk_body_is_decoded() -> None:
    msg = decode((DATA / "autoreplies" / "netease_autoreply_gbk.eml").read_bytes())
    assert msg.subject == "自动回复: 关于姐妹图书馆的合作意向"
    assert msg.from_.name == "王丽"
    assert "我将于12月3日回来" in msg.text


EXPECTED = json.loads((DATA / "autoreplies" / "expected.json").read_text(encoding="utf-8"))


def test_every_golden_has_an_expectation() -> None:
    assert {p.name for p in (DATA / "autoreplies").glob("*.eml")} == set(EXPECTED)
    assert len(EXPECTED) >= 60 and not all(e["auto"] for e in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_auto_reply_or_not(name: str) -> None:
    """tests/data/autoreplies/expected.json: headers, subjects in many languages, senders."""
    auto, until = detect_auto_reply(decode((DATA / "autoreplies" / name).read_bytes()))
    assert auto is EXPECTED[name]["auto"]
    if not auto:
        assert until is None


def test_a_bounce_carrying_auto_submitted_is_a_bounce() -> None:
    raw = (DATA / "bounces" / "bounce_with_auto_submitted.eml").read_bytes()
    facts = parse_message(raw, program_address="sisters@program.example", secret=None)
    assert facts.kind == "bounce" and facts.auto_reply is False


@pytest.mark.parametrize("folder", ["mime"])
def test_ordinary_mail_is_not_auto(folder: str) -> None:
    for path in sorted((DATA / folder).glob("*.eml")):
        assert detect_auto_reply(decode(path.read_bytes()))[0] is False, path.name


def _mail(subject: str, headers: str = "", body: str = "Thanks.") -> bytes:
    return (
        "From: someone@lib.example.org\nTo: sisters@program.example\n"
        f"Subject: {subject}\nDate: Mon, 30 Nov 2026 10:00:00 +0000\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}\n"
    ).encode()


@pytest.mark.parametrize(
    ("subject", "headers", "expected"),
    [
        ("Hello", "Auto-Submitted: auto-replied\n", True),
        ("Hello", "Auto-Submitted: auto-generated\n", True),
        ("Hello", "Auto-Submitted: no\n", False),
        ("Hello", "X-Autoreply: yes\n", True),
        ("Hello", "X-Autorespond: Out of office\n", True),
        ("Hello", "Precedence: bulk\n", True),
        ("Hello", "Precedence: junk\n", True),
        ("Hello", "Precedence: auto_reply\n", True),
        ("Hello", "Precedence: list\nList-Id: <l.example.org>\n", False),
        ("Hello", "X-Auto-Response-Suppress: All\n", True),  # Exchange's own notices
        ("Re: Hello", "X-Auto-Response-Suppress: All\n", False),  # a person's Outlook answer
        ("Hello", "X-Auto-Response-Suppress: None\n", False),
        ("Hello", "Auto-Submitted: auto-forwarded\n", False),  # a person's mail, carried on
        ("Hello", "Auto-Submitted: auto-notified\n", True),
        ("Hello", "X-Zimbra-AutoReply: true\n", True),
        ("Hello", "X-Autoreply: no\n", False),
        ("Hello", "Precedence: list\n", True),  # no list header: a robot's mass mailing
        ("Hello", "Precedence: list\nList-Post: <mailto:l@l.example.org>\n", False),
        ("Hello", "X-Precedence: bulk\n", True),
        ("Out of Office: Hello", "X-Auto-Response-Suppress: All\n", True),
        ("自动答复: 姐妹图书馆", "", True),
        ("[自动回复] 姐妹图书馆", "", True),
        ("休假中", "", True),
        ("不在办公室", "", True),
        ("Respuesta automática: oferta", "", True),
        ("Fuera de la oficina", "", True),
        ("Réponse automatique : offre", "", True),
        ("Absence du bureau", "", True),
        ("Absent jusqu'au 4 janvier", "", True),
        ("Automatische Antwort: Angebot", "", True),
        ("Abwesenheitsnotiz", "", True),
        ("自動応答: 姉妹図書館", "", True),
        ("Re: Your sister library", "Auto-Submitted: auto-replied\n", True),  # Gmail's default
        ("Hello", "X-Autoresponder: yes\n", True),
        ("Hello", "Delivered-To: Autoresponder\n", True),  # qmail's autorespond
        ("Hello", "X-Mailer: Vacation Autoresponder 2.1\n", True),
        ("Hello", "Precedence: first-class\n", False),
        ("Out of the Office: Your sister library", "", True),
        ("I am out of the office", "", True),
        ("AUTO: Jane Doe is out of the office (returning 12/07/2026)", "", True),
        ("Jane Doe is out of the office.", "", True),  # Lotus Notes names the person first
        ("Risposta: Non al computer", "", True),
        ("Abwesend bis 7.12.", "", True),
        ("On vacation until Monday", "", True),
        ("Automated response: thank you for contacting us", "", True),
        ("Re: Odpowiedź automatyczna", "", False),
        ("Fwd: Out of office", "", False),
        ("Re: 自动回复", "", False),
        ("Urlaubsvertretung gesucht", "", False),
        ("Vacation", "", False),
        ("자동 회신: 자매 도서관", "", True),
        ("Automatická odpověď: Sesterská knihovna", "", True),
        ("Otomatik yanıt: Kardeş kütüphane", "", True),
        (
            "Thank you for your message",
            "X-MS-Exchange-Inbox-Rules-Loop: a@lib.example.org\n"
            "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\n",
            True,  # an Exchange server-side rule's reply
        ),
        (
            "FW: Your sister library",
            "X-MS-Exchange-Inbox-Rules-Loop: a@lib.example.org\n"
            "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent\n",
            False,  # the same rules agent forwarding a person's mail
        ),
        ("Absence request for Friday", "", False),  # a bare word must end the subject
        ("Urlaub bis 4. Januar", "", True),
        ("Urlaubsplanung 2027", "", False),
        ("Afwezig: Uw zusterbibliotheek", "", True),
        ("Ausente hasta el lunes", "", True),
        ("Ausente por enfermedad de un colega, ¿quién responde?", "", False),
        ("Vacation reading programme for children", "", False),
        ("Re: our absent colleague", "", False),
        ("Sister library application", "", False),
    ],
)
def test_headers_and_subjects(subject: str, headers: str, expected: bool) -> None:
    assert detect_auto_reply(decode(_mail(subject, headers)))[0] is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will be back on 3 December 2026.", utc(2026, 12, 3)),
        ("I will be back on December 3rd, 2026.", utc(2026, 12, 3)),
        ("I am returning 2026-12-03.", utc(2026, 12, 3)),
        ("Out of the office until 12/03/2026.", utc(2026, 12, 3)),  # the future reading
        ("Out of the office until 15/12/2026.", utc(2026, 12, 15)),  # day > 12: day first
        ("我将于2026年12月3日返回。", utc(2026, 12, 3)),
        ("我12月3日回来。", utc(2026, 12, 3)),
        ("我１２月３日回来。", utc(2026, 12, 3)),  # full-width digits
        ("I am away from 1 December until 3 January.", utc(2027, 1, 3)),  # year rolls over
        ("Back on 28 November.", utc(2027, 11, 28)),  # already past this year
        ("Remote server returned 550 5.1.10 not found", None),  # a status code, not a date
        ("I am on leave.", None),
        ("Meeting on 3 December 2026.", None),  # a date, but not a return date
    ],
)
def test_return_date_forms(text: str, expected: datetime | None) -> None:
    assert return_date(text, datetime(2026, 11, 30, 10, tzinfo=UTC)) == expected


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("[help.example.edu #4521] AutoReply: hello", "Thanks.", True),  # a ticket system's tag
        ("[libs-l] Automatic replies on the list, again", "Thanks.", False),
        ("رد تلقائي: مكتبتكم", "Thanks.", True),
        ("Trả lời tự động: Thư viện", "Thanks.", True),
        ("Ticket Received - Your sister library", "Thanks.", True),
        ("Re: Your sister library", "I am currently out of the office until 4 January.", True),
        ("Re: Your sister library", "Your request (12345) has been received.", True),
        ("Re: Your sister library", "Please note that this inbox is not monitored.", True),
        ("Re: Your sister library", "Jag är på semester till och med 4 januari.", True),
        (
            "Re: Your sister library",
            "I will be out of the office from 1 to 14 December with limited access to email.",
            True,
        ),
        ("Sjálfvirkt svar: Systurbókasafn", "Thanks.", True),  # any "automatic answer" tag
        ("Automaatne vastus: Sõsarraamatukogu", "Thanks.", True),
        ("Vacation notice for the library staff", "Thanks.", False),
        ("Re: x", "Vielen Dank. Ich bin bis einschließlich 8. Januar nicht im Büro.", True),
        ("Re: x", "I am on leave at the moment but wanted to say yes, we'd love to join!", False),
        ("Auto reply settings question", "Thanks.", False),  # no tag: a person asking
        ("Përgjigje automatike: Biblioteka", "Thanks.", True),
        ("Jibu la Kiotomatiki: Maktaba", "Thanks.", True),
        ("Re: x", "Incident INC0012345 has been opened on your behalf.", True),
        ("Re: x", "Estarei fora do escritório até 5 de janeiro, sem acesso ao e-mail.", True),
        ("Re: x", "I will be on vacation until 10 December, so send it to Marco.", False),
        ("Re: x", "I am out of the office from today until 4 January.", True),
        ("Re: x", "Guten Morgen, ich bin bis 4. Januar im Urlaub.", True),
        ("Re: x", "Our office is closed for the holidays; we will respond when we reopen.", True),
        ("Re: x", "I have left the library. Please write to info@l.example.org instead.", True),
        ("Re: x", "Thanks! I'm out of the office today but will send the form tomorrow.", False),
        ("Re: x", "来週は不在にしておりますので、再来週以降にお送りします。", False),
        ("Re: x", "I am out of the office until 7 December, but will reply on my return.", True),
        ("Re: x", "I am on parental leave until March, but my colleague sent me your mail.", False),
        ("Re: x", "The email address you wrote to is no longer in use.", True),
        ("Re: x", "您好，我目前在外出差，12月8日返回。", True),
        ("Re: x", "我下周出差，回来以后再联系。", False),
        # A person: an absence ahead without a promise to answer on return; a thank-you.
        ("Re: Your sister library", "Great! I'll be out of office next week, talk after.", False),
        ("Re: Your sister library", "Thank you for your email. We would like to join.", False),
        ("Re: Automatic reply: Your sister library", "Got your automatic reply, no rush.", False),
    ],
)
def test_subject_tags_and_opening_lines(subject: str, body: str, expected: bool) -> None:
    assert detect_auto_reply(decode(_mail(subject, body=body)))[0] is expected


def test_year_missing_and_no_message_date_gives_none() -> None:
    assert return_date("我12月3日回来", None) is None
    assert return_date("back on 3 December 2026", None) == utc(2026, 12, 3)
    msg = decode(_mail("Automatic reply: hi", body="Back on 3 December.").replace(b"Date", b"X-D"))
    assert detect_auto_reply(msg) == (True, None)
