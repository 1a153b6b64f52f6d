"""MIME decoding over the golden files in tests/data/mime (and built ones: .docx, 20 MB)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from email.message import Message
from pathlib import Path

import pytest

from mailflow.parse.charsets import decode_bytes, guess_cjk
from mailflow.parse.facts import Address, Attachment
from mailflow.parse.message import decode, decode_message, parse_bytes
from tests.data.big import ATTACHMENT_NAME, attachment_bytes, make_big_mail
from tests.data.make_docx import make_docx, make_docx_mail

MIME = Path(__file__).parent / "data" / "mime"


def load(name: str):
    return decode((MIME / name).read_bytes())


def test_gb2312_label_with_gbk_only_characters() -> None:
    msg = load("gb2312_with_gbk_chars.eml")
    assert msg.subject == "申请加入姐妹图书馆计划"
    assert msg.from_ == Address("lizhe@xhlib.example.cn", "李喆")
    assert "联系人：李喆（馆长助理）" in msg.text
    assert "我馆王堃老师负责对外交流，韦镕负责技术。" in msg.text
    assert "\r" not in msg.text and "\ufffd" not in msg.text
    assert msg.message_id == "202611161002070328117@xhlib.example.cn"
    assert msg.date == datetime(2026, 11, 16, 2, 2, 7, tzinfo=UTC)
    assert msg.date.utcoffset() == timedelta(hours=8)
    assert msg.defects == ()


def test_big5_label_with_hkscs_character() -> None:
    msg = load("big5_hkscs.eml")
    assert msg.subject == "姐妹圖書館申請"
    assert msg.from_.name == "陳大文"
    assert "我哋嘅兒童閱讀活動每月舉行一次。" in msg.text
    assert "圖書館名稱：屯門公共圖書館" in msg.text


def test_iso_2022_jp() -> None:
    msg = load("iso2022jp.eml")
    assert msg.subject == "姉妹図書館の申込み"
    assert msg.from_ == Address("h-sato@sapporo-lib.example.jp", "佐藤花子")
    assert msg.text.startswith("姉妹図書館プログラムへの参加を希望します。")
    assert "図書館名：札幌市中央図書館" in msg.text


def test_windows_1252_labelled_iso_8859_1() -> None:
    msg = load("cp1252_as_latin1.eml")
    assert "We\u2019re a small rural library" in msg.text
    assert "a \u201csister\u201d library \u2013 ideally" in msg.text
    assert msg.text.endswith("Jan\u00e9 Kowalski")
    assert msg.from_.address == "jkowalski@millbrooklib.example.org"  # lower-cased


def test_utf8_labelled_us_ascii() -> None:
    msg = load("utf8_as_usascii.eml")
    assert msg.subject == "Participação no programa"
    assert "Biblioteca Pública Municipal de São João — gostaríamos" in msg.text
    assert msg.from_.name == "Márcia Souza"
    assert msg.date is not None and msg.date.utcoffset() == timedelta(hours=-3)


def test_unknown_charset_falls_back_and_is_reported() -> None:
    msg = load("unknown_charset.eml")
    assert "La bibliothèque municipale souhaite un jumelage. Ça nous" in msg.text
    assert msg.from_.name == "Bibliothèque de Lyon"
    assert "undecodable-charset:x-unknown-foo" in msg.defects


def test_rfc2231_filenames_and_text_attachment() -> None:
    msg = load("rfc2231_filename.eml")
    assert msg.subject == "Formulaire d\u2019inscription"
    # format=flowed: the soft break after "formulaire " is joined.
    assert "notre formulaire d\u2019inscription rempli." in msg.text
    assert msg.attachments == (
        Attachment("申请表.pdf", "application/pdf", 45),
        Attachment("Fiche de la bibliothèque – horaires.txt", "text/plain", 50),
    )
    assert msg.attachment_texts == (
        (
            "Fiche de la bibliothèque – horaires.txt",
            "Fiche de la bibliothèque – horaires : 9h–18h\n",
        ),
    )


def test_html_only_is_converted_to_text() -> None:
    msg = load("html_only.eml")
    assert msg.html is not None and "<table>" in msg.html
    assert msg.text.splitlines() == [
        "Hello,",
        "",
        "Please find our details below & let us know.",
        "",
        "Library name:\tKibera Community Library",
        "Country:\tKenya",
        "",
        "- Story time",
        "- Book club",
        "",
        "Website: our website (https://kiberalib.example.org/about)",
        "",
        "Regards,",
        "Wanjiru",
    ]
    assert "alert" not in msg.text and "margin-top" not in msg.text


def test_multipart_alternative_prefers_plain_text_and_keeps_html() -> None:
    msg = load("gmail_alternative.eml")
    assert msg.text == "Yes, we would like an introduction.\xa0Thank you!"
    assert msg.html == '<div dir="ltr">Yes, we would like an introduction.\xa0Thank you!</div>\n'
    assert msg.subject == "ग्रंथालय — sister library"  # raw 8-bit UTF-8 header
    assert msg.attachments == ()


def test_reply_headers_and_flowed_text() -> None:
    msg = load("flowed_reply.eml")
    assert msg.from_ == Address("j.mueller@stadtbib.example.de", "Jürgen Müller")
    assert msg.to == ("sisters@program.example",)
    assert msg.cc == ("leitung@stadtbib.example.de", "a.weber@stadtbib.example.de")
    assert msg.reply_to == ("partnerschaft@stadtbib.example.de",)
    assert msg.in_reply_to == "mf.offer.18@program.example"
    assert msg.references == ("mf.offer.17@program.example", "mf.offer.18@program.example")
    assert msg.text.splitlines()[0] == (
        "Ja, wir möchten gerne eine Partnerschaft mit der Bibliothek in Kyoto beginnen."
    )
    assert msg.text.splitlines()[-1] == (
        "> We found a possible sister library for you. Reply yes if you would like an introduction."
    )
    assert msg.date == datetime(2026, 11, 27, 10, 14, 58, tzinfo=timezone(timedelta(hours=1)))


def test_apple_mail_text_split_around_inline_image() -> None:
    msg = load("apple_inline_image.eml")
    assert msg.text == (
        "Here is our reading club:\n\nAnd that was our visit to the museum.\n\nSofia"
    )
    assert msg.attachments == (Attachment("club.png", "image/png", 72),)


def test_no_message_id() -> None:
    msg = load("no_message_id.eml")
    assert msg.message_id is None
    assert "no-message-id" in msg.defects
    assert msg.from_ == Address("webform@smalltownlib.example", "")
    assert msg.text.startswith("Name: Ola Nordmann\nLibrary: Smalltown Folkebibliotek")


def test_broken_headers_survive() -> None:
    msg = load("broken_headers.eml")
    # The stray line is dropped, so the headers after it are still headers.
    assert msg.subject == "Hello 图书馆"
    assert msg.message_id == "broken.1@oldbox.example"
    assert msg.from_ == Address("", "Library Staff")
    assert msg.text == "The body survived."
    assert set(msg.defects) >= {
        "malformed-header-line",
        "malformed-header:from",
        "unterminated-encoded-word:subject",
    }
    assert ("x-mailer", "OldBox Mail 1.0") in msg.headers


def test_empty_input() -> None:
    msg = load("empty.eml")
    assert msg.text == "" and msg.subject == "" and msg.from_ == Address("")
    assert msg.message_id is None and msg.date is None
    assert {"empty-input", "no-message-id", "empty-body", "no-from"} <= set(msg.defects)


def test_headers_only() -> None:
    msg = load("headers_only.eml")
    assert msg.subject == "ping"
    assert msg.message_id == "ping.1@probe.example"
    assert msg.text == ""
    assert msg.defects == ("empty-body",)
    assert [name for name, _ in msg.headers] == [
        "received", "from", "to", "subject", "date", "message-id",
    ]  # fmt: skip


def test_garbage_bytes_never_raise() -> None:
    for seed in range(20):
        raw = os.urandom(2000 + seed)
        msg = decode(raw)
        assert msg.defects  # at least no-message-id / no-from
    assert decode(b"\x00\xff\xfe" * 100).message_id is None


def test_docx_attachment_text() -> None:
    docx = make_docx()
    msg = decode(make_docx_mail(docx))
    assert msg.text == "Please find the signed MOU attached."
    assert msg.in_reply_to == "mf.mou.42@program.example"
    assert msg.attachments == (
        Attachment(
            "姐妹馆MOU.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            len(docx),
        ),
    )
    assert msg.attachment_texts == (
        (
            "姐妹馆MOU.docx",
            "Memorandum of Understanding\n"
            "Goals: exchange of children's books and a staff pen-pal programme\n"
            "Working language: English\n"
            "签署人：王丽（馆长）\n"
            "I agree",
        ),
    )


def test_broken_docx_gives_no_text_and_no_error() -> None:
    msg = decode(make_docx_mail(b"PK\x03\x04 this is not really a zip"))
    assert msg.attachments[0].filename == "姐妹馆MOU.docx"
    assert msg.attachment_texts == ()


def test_big_attachment_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = make_big_mail(20)
    msg = parse_bytes(raw)
    decoded_parts: list[int] = []
    original = Message.get_payload

    def counting(self: Message, i: int | None = None, decode: bool = False):  # noqa: ANN202
        if decode and self.get_content_type() == "application/pdf":
            decoded_parts.append(id(self))
        return original(self, i, decode)

    monkeypatch.setattr(Message, "get_payload", counting)
    result = decode_message(msg)
    assert len(decoded_parts) == 1
    assert result.attachments == (Attachment(ATTACHMENT_NAME, "application/pdf", 20 * 1024 * 1024),)
    assert result.text.startswith("Library name: Riverside Public Library\nCountry: United States")
    assert result.subject == "Application: Riverside Public Library (scanned forms attached)"
    assert result.defects == ()


def test_big_attachment_bytes_are_deterministic() -> None:
    first = attachment_bytes(1)
    assert first == attachment_bytes(1)
    assert len(first) == 1024 * 1024 and first.startswith(b"%PDF-1.7")


def test_every_golden_file_decodes() -> None:
    for path in sorted(MIME.parent.glob("*/*.eml")):
        msg = decode(path.read_bytes())
        assert isinstance(msg.text, str), path.name
        assert all(name == name.lower() for name, _ in msg.headers), path.name


HEAD = b"From: Ana <ana@bib.example.pt>\r\nTo: sisters@program.example\r\nMessage-ID: <h@x>\r\n"
TEXT_PART = b"Content-Type: text/plain; charset=utf-8\r\n\r\nLibrary name: Biblioteca\r\n"


def test_a_huge_header_field_is_cut_and_the_rest_still_read() -> None:
    word = b"=?utf-8?B?w6lsw6h2ZQ==?="  # "élève"
    raw = HEAD + b"Subject: " + b"\r\n ".join([word] * 100_000) + b"\r\n" + TEXT_PART
    msg = decode(raw)
    assert "truncated:header" in msg.defects
    assert msg.subject.startswith("élèveélève") and len(msg.subject) < 32 * 1024
    assert msg.from_ == Address("ana@bib.example.pt", "Ana")
    assert msg.text == "Library name: Biblioteca"


def test_thousand_nested_parts_are_cut_not_parsed() -> None:
    nested = b"".join(
        b'Content-Type: multipart/mixed; boundary="n%d"\r\n\r\n--n%d\r\n' % (k, k)
        for k in range(1000)
    )
    raw = HEAD + b"Subject: nested\r\nMIME-Version: 1.0\r\n" + nested + TEXT_PART
    msg = decode(raw)
    assert "deep-nesting:mime" in msg.defects
    assert msg.subject == "nested" and msg.from_.address == "ana@bib.example.pt"
    assert msg.attachments == ()  # the opaque rest is neither text nor an attachment


def test_a_few_containers_are_left_alone() -> None:
    msg = load("apple_inline_image.eml")
    assert "deep-nesting:mime" not in msg.defects and msg.text.startswith("Here is our")


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("申请加入姐妹图书馆计划", "gbk"),
        ("國立臺灣圖書館", "big5"),
        ("お問い合わせについて", "cp932"),
        ("李明", "gbk"),
        ("陳大文", "big5"),
    ],
)
def test_short_raw_cjk_is_read_by_script(text: str, codec: str) -> None:
    assert guess_cjk(text.encode(codec)) == text


@pytest.mark.parametrize("text", ["Müller", "informação", "Ærø", "Grüße aus München"])
def test_short_latin_is_not_taken_for_cjk(text: str) -> None:
    raw = text.encode("latin-1")
    assert guess_cjk(raw) is None
    assert decode_bytes(raw, None) == text


def test_utf8_with_a_latin1_line_keeps_both() -> None:
    defects: list[str] = []
    raw = "Olá, até amanhã às 10h.\n".encode() + "Câmara Municipal\n".encode("latin-1")
    assert decode_bytes(raw, "utf-8", defects) == "Olá, até amanhã às 10h.\nCâmara Municipal\n"
    assert "invalid-utf-8" in defects


def test_gbk_labelled_utf8_is_not_read_as_utf8_with_faults() -> None:
    text = "您好！我们是杭州市图书馆，希望与贵馆建立姐妹图书馆关系。" * 3
    assert decode_bytes(text.encode("gbk"), "utf-8") == text
