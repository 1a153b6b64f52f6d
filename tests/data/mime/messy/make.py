"""Writes the messy-MIME golden mails (NN-name.eml) and their expected facts (expected.json).

Each mail is written here by hand after what the RFCs allow and what real clients are known to
send (Outlook's RFC 2047 filenames and ks_c_5601-1987, Foxmail/QQ raw GBK headers, Japanese
mobile ISO-2022-JP, Thunderbird's RFC 2231 continuations, ...). The expected facts are the
text as the writer meant it, never what mailflow happens to return. Run it again after
editing a case: `python tests/data/mime/messy/make.py`.

Expected keys (all optional): from {address, name}; to / cc / reply_to [[address, name]];
subject; date (ISO 8601); body_charset; text_has [substrings]; text_lacks [substrings]; attachments
[[filename, content_type]] in order; defects_has [defect names].
"""

from __future__ import annotations

import base64
import json
import quopri
from pathlib import Path
from urllib.parse import quote

HERE = Path(__file__).parent
CASES: list[tuple[str, bytes, dict]] = []
N = 0


def b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def ew(text: str, charset: str = "utf-8", enc: str = "B") -> str:
    """An RFC 2047 encoded word."""
    data = text.encode(charset)
    if enc == "B":
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    return f"=?{charset}?Q?{quopri.encodestring(data, header=True).decode()}?="


def windows_jis(text: str) -> bytes:
    """ISO-2022-JP as Windows writes it (CP50221): Shift_JIS codes, NEC rows included, turned
    into JIS X 0208 codes after ESC $ B."""
    out = bytearray()
    jis = False
    for ch in text:
        code = ch.encode("cp932")
        if len(code) == 1:
            if jis:
                out += b"\x1b(B"
                jis = False
            out += code
            continue
        if not jis:
            out += b"\x1b$B"
            jis = True
        s1, s2 = code
        j1 = (s1 - (0x70 if s1 < 0xA0 else 0xB0)) * 2 - (s2 < 0x9F)
        j2 = s2 - (0x1F + (s2 >= 0x80) if s2 < 0x9F else 0x7E)
        out += bytes((j1, j2))
    return bytes(out + (b"\x1b(B" if jis else b""))


def case(name: str, headers: list[tuple[str, bytes | str]], body: bytes, **expected) -> None:
    global N
    N += 1
    lines = [
        (k.encode() + b": " + (v if isinstance(v, bytes) else v.encode("ascii")))
        for k, v in headers
    ]
    names = {k.lower() for k, _ in headers}
    if "message-id" not in names:
        lines.append(f"Message-ID: <messy-{N:02d}@mail.example>".encode())
    if "date" not in names:
        lines.append(b"Date: Tue, 01 Dec 2026 08:00:00 +0000")
    if "mime-version" not in names:
        lines.append(b"MIME-Version: 1.0")
    CASES.append((f"{N:02d}-{name}", b"\r\n".join(lines) + b"\r\n\r\n" + body, expected))


TO = ("To", "sisters@program.example")
PLAIN = ("Content-Type", "text/plain; charset=utf-8")
HELLO = b"Hello from our library.\r\n"


def multipart(boundary: str, parts: list[tuple[list[str], bytes]], sub: str = "mixed") -> tuple:
    out = [b"This is a multi-part message in MIME format.\r\n"]
    for head, body in parts:
        out.append(b"--" + boundary.encode() + b"\r\n")
        out.append(b"".join(h.encode("utf-8", "surrogateescape") + b"\r\n" for h in head))
        out.append(b"\r\n" + body + b"\r\n")
    out.append(b"--" + boundary.encode() + b"--\r\n")
    return ("Content-Type", f'multipart/{sub}; boundary="{boundary}"'), b"".join(out)


TEXT_PART = (["Content-Type: text/plain; charset=utf-8"], b"Please see the attachment.\r\n")
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def with_attachment(name: str, head: list[str], data: bytes, **expected) -> None:
    ctype, body = multipart(
        "b1_" + name, [TEXT_PART, ([*head, "Content-Transfer-Encoding: base64"], b64(data))]
    )
    case(
        name,
        [("From", "Ana Silva <ana@biblioteca.example.pt>"), TO, ("Subject", "Anexo"), ctype],
        body,
        text_has=["Please see the attachment."],
        **expected,
    )


# --- From: malformed and several addresses -------------------------------------------------
case("from-two-addresses", [("From", "Ana Silva <ana@bib.example.pt>, Rui Costa <rui@bib.example.pt>"), TO, ("Subject", "Two senders"), PLAIN], HELLO,
     **{"from": {"address": "ana@bib.example.pt", "name": "Ana Silva"}, "subject": "Two senders", "defects_has": ["multiple-addresses:from"]})  # fmt: skip
case("from-unquoted-comma", [("From", "Doe, John <john.doe@library.example.org>"), TO, ("Subject", "Comma"), PLAIN], HELLO,
     **{"from": {"address": "john.doe@library.example.org", "name": "Doe, John"}})  # fmt: skip
case("from-no-brackets", [("From", "Maria Lopez maria@biblioteca.example.es"), TO, ("Subject", "Hola"), PLAIN], HELLO,
     **{"from": {"address": "maria@biblioteca.example.es", "name": "Maria Lopez"}})  # fmt: skip
case("from-mailto", [("From", "Li Wei <mailto:liwei@lib.example.cn>"), TO, ("Subject", "mailto"), PLAIN], HELLO,
     **{"from": {"address": "liwei@lib.example.cn", "name": "Li Wei"}})  # fmt: skip
case("from-comment-name", [("From", "pekka@kirjasto.example.fi (Pekka Virtanen)"), TO, ("Subject", "Terve"), PLAIN], HELLO,
     **{"from": {"address": "pekka@kirjasto.example.fi", "name": "Pekka Virtanen"}})  # fmt: skip
case("from-unclosed-bracket", [("From", "Olga Ivanova <olga@biblioteka.example.ru"), TO, ("Subject", "Privet"), PLAIN], HELLO,
     **{"from": {"address": "olga@biblioteka.example.ru", "name": "Olga Ivanova"}})  # fmt: skip
case("from-whole-encoded", [("From", ew("Jürgen Müller <jm@stadtbib.example.de>")), TO, ("Subject", "Hallo"), PLAIN], HELLO,
     **{"from": {"address": "jm@stadtbib.example.de", "name": "Jürgen Müller"}})  # fmt: skip
case("from-encoded-comma", [("From", ew("Müller, Jürgen", enc="Q") + " <jm@stadtbib.example.de>"), TO, ("Subject", "Hallo"), PLAIN], HELLO,
     **{"from": {"address": "jm@stadtbib.example.de", "name": "Müller, Jürgen"}})  # fmt: skip
case("from-raw-gbk-name", [("From", "李明".encode("gbk") + b" <liming@lib.example.cn>"), TO, ("Subject", "hello"), ("Content-Type", "text/plain")], HELLO,
     **{"from": {"address": "liming@lib.example.cn", "name": "李明"}})  # fmt: skip
case("from-quoted-address-name", [("From", '"info@lib.example.org" <director@lib.example.org>'), TO, ("Subject", "Info"), PLAIN], HELLO,
     **{"from": {"address": "director@lib.example.org", "name": "info@lib.example.org"}})  # fmt: skip
case("from-encoded-in-quotes", [("From", f'"{ew("Zoë Ångström")}" <zoe@bibliotek.example.se>'), TO, ("Subject", "Hej"), PLAIN], HELLO,
     **{"from": {"address": "zoe@bibliotek.example.se", "name": "Zoë Ångström"}})  # fmt: skip
case("from-upper-case", [("From", "Kim Lee <Kim.Lee@Library.Example.KR>"), TO, ("Subject", "Hi"), PLAIN], HELLO,
     **{"from": {"address": "kim.lee@library.example.kr", "name": "Kim Lee"}})  # fmt: skip
case("from-quoted-bare", [("From", '"Anna Nowak" anna@biblioteka.example.pl'), TO, ("Subject", "Cześć".encode() ), PLAIN], HELLO,
     **{"from": {"address": "anna@biblioteka.example.pl", "name": "Anna Nowak"}, "subject": "Cześć"})  # fmt: skip
case("from-group-syntax", [("From", "Library staff: ana@bib.example.pt;"), TO, ("Subject", "Group"), PLAIN], HELLO,
     **{"from": {"address": "ana@bib.example.pt", "name": ""}})  # fmt: skip

# --- Address lists with names ---------------------------------------------------------------
case("to-cc-reply-to-named", [("From", "Ana <ana@bib.example.pt>"),
     ("To", f"{ew('Programa Irmãs', enc='Q')} <sisters@program.example>, \"Costa, Rui\" <rui@bib.example.pt>"),
     ("Cc", "=?gb2312?B?" + base64.b64encode("王芳".encode("gb2312")).decode() + "?= <wangfang@lib.example.cn>, bare@lib.example.cn"),
     ("Reply-To", "Biblioteca <geral@bib.example.pt>"), ("Subject", "Lists"), PLAIN], HELLO,
     to=[["sisters@program.example", "Programa Irmãs"], ["rui@bib.example.pt", "Costa, Rui"]],
     cc=[["wangfang@lib.example.cn", "王芳"], ["bare@lib.example.cn", ""]],
     reply_to=[["geral@bib.example.pt", "Biblioteca"]])  # fmt: skip
case("to-undisclosed", [("From", "Ana <ana@bib.example.pt>"), ("To", "undisclosed-recipients:;"), ("Bcc", "sisters@program.example"), ("Subject", "Bcc"), PLAIN], HELLO,
     to=[], cc=[])  # fmt: skip
case("to-raw-utf8-names", [("From", "Ana <ana@bib.example.pt>"), ("To", "Société Générale <sg@example.fr>, 山田太郎 <yamada@lib.example.jp>".encode()), ("Subject", "Raw"), PLAIN], HELLO,
     to=[["sg@example.fr", "Société Générale"], ["yamada@lib.example.jp", "山田太郎"]])  # fmt: skip
case("to-duplicates", [("From", "Ana <ana@bib.example.pt>"), ("To", "Sisters <SISTERS@program.example>, sisters@program.example"), ("Subject", "Dup"), PLAIN], HELLO,
     to=[["sisters@program.example", "Sisters"]])  # fmt: skip

# --- Dates as mailers write them -------------------------------------------------------------
DATE_CASES = [
    ("date-gmt-offset", "Tue, 1 Dec 2026 16:00:00 GMT+0800", "2026-12-01T16:00:00+08:00"),
    ("date-colon-offset", "1 Dec 2026 16:00:00 +08:00", "2026-12-01T16:00:00+08:00"),
    ("date-iso", "2026-12-01 08:00:00", "2026-12-01T08:00:00+00:00"),
    ("date-german", "Di, 01 Dez 2026 09:00:00 +0100", "2026-12-01T09:00:00+01:00"),
    ("date-chinese-month", "星期二, 01 12月 2026 16:00:00 +0800", "2026-12-01T16:00:00+08:00"),
]
for name, value, iso in DATE_CASES:
    case(
        name,
        [
            ("From", "Ana <ana@bib.example.pt>"),
            TO,
            ("Subject", "Date"),
            ("Date", value.encode()),
            PLAIN,
        ],
        HELLO,
        date=iso,
    )

# --- Encoded words with a wrong or missing charset -----------------------------------------
LATIN_Q = (
    "=?utf-8?Q?"
    + quopri.encodestring("Café réservé".encode("latin-1"), header=True).decode()
    + "?="
)
case("ew-utf8-label-latin1-bytes", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", LATIN_Q), PLAIN], HELLO,
     subject="Café réservé")  # fmt: skip
case("ew-latin1-label-utf8-bytes", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "=?iso-8859-1?B?" + base64.b64encode("Médiathèque – été".encode()).decode() + "?="), PLAIN], HELLO,
     subject="Médiathèque – été")  # fmt: skip
case("ew-missing-charset", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "=??Q?" + quopri.encodestring("Bibliothèque municipale".encode(), header=True).decode() + "?="), PLAIN], HELLO,
     subject="Bibliothèque municipale")  # fmt: skip
case("ew-unknown-8bit", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "=?unknown-8bit?Q?" + quopri.encodestring("Ça marche très bien".encode(), header=True).decode() + "?="), PLAIN], HELLO,
     subject="Ça marche très bien")  # fmt: skip
case("ew-unknown-label-gbk", [("From", "Wang <wang@lib.example.cn>"), TO, ("Subject", "=?x-unknown?B?" + base64.b64encode("姐妹图书馆合作".encode("gbk")).decode() + "?="), PLAIN], HELLO,
     subject="姐妹图书馆合作")  # fmt: skip
case("ew-gb2312-with-gbk-char", [("From", "=?gb2312?B?" + base64.b64encode("王堃".encode("gbk")).decode() + "?= <wangkun@lib.example.cn>"), TO, ("Subject", "=?gb2312?B?" + base64.b64encode("申请表（镕）".encode("gbk")).decode() + "?="), PLAIN], HELLO,
     **{"from": {"address": "wangkun@lib.example.cn", "name": "王堃"}, "subject": "申请表（镕）"})  # fmt: skip
case("ew-split-multibyte", [("From", "Sato <sato@lib.example.jp>"), TO, ("Subject", "=?utf-8?B?" + base64.b64encode("図書".encode()[:4]).decode() + "?= =?utf-8?B?" + base64.b64encode("図書".encode()[4:] + "館".encode()).decode() + "?="), PLAIN], HELLO,
     subject="図書館")  # fmt: skip
case("ew-glued-to-text", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Re:" + ew("Participação", enc="Q") + "[SL]"), PLAIN], HELLO,
     subject="Re:Participação[SL]")  # fmt: skip
case("ew-spaces-inside", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "=?utf-8?Q?Ol=C3=A1 a todos?="), PLAIN], HELLO,
     subject="Olá a todos")  # fmt: skip
case("ew-unterminated", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Reunião =?utf-8?Q?amanh=C3=A3".encode()), PLAIN], HELLO,
     subject="Reunião amanhã", defects_has=["unterminated-encoded-word:subject"])  # fmt: skip
case("ew-no-padding", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "=?UTF-8?B?" + base64.b64encode("Biblioteca Nacional ü".encode()).decode().rstrip("=") + "?="), PLAIN], HELLO,
     subject="Biblioteca Nacional ü")  # fmt: skip
case("ew-language-tag", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "=?utf-8*pt?Q?Cora=C3=A7=C3=A3o?="), PLAIN], HELLO,
     subject="Coração")  # fmt: skip
case("ew-cp1252-quotes", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "=?windows-1252?Q?=93Sister=94_libraries_=96_2027?="), PLAIN], HELLO,
     subject="\u201cSister\u201d libraries \u2013 2027")  # fmt: skip
case("ew-utf8-alias", [("From", "=?UTF8?Q?Bj=C3=B6rk?= <bjork@safn.example.is>"), TO, ("Subject", "=?utf8?B?" + base64.b64encode("Bókasafn".encode()).decode() + "?="), PLAIN], HELLO,
     **{"from": {"address": "bjork@safn.example.is", "name": "Björk"}, "subject": "Bókasafn"})  # fmt: skip

# --- Raw 8-bit headers -----------------------------------------------------------------------
case("raw-gbk-subject-no-hint", [("From", "Zhang <zhang@lib.example.cn>"), TO, ("Subject", "关于姐妹图书馆的申请".encode("gbk")), ("Content-Type", "text/plain")], HELLO,
     subject="关于姐妹图书馆的申请")  # fmt: skip
case("raw-gbk-subject-gb2312-body", [("From", "张伟".encode("gbk") + b" <zhangwei@lib.example.cn>"), TO, ("Subject", "申请加入".encode("gbk")), ("Content-Type", "text/plain; charset=gb2312"), ("Content-Transfer-Encoding", "8bit")], "您好，我们希望加入。\r\n".encode("gbk"),
     **{"from": {"address": "zhangwei@lib.example.cn", "name": "张伟"}, "subject": "申请加入", "text_has": ["我们希望加入"], "body_charset": "gb2312"})  # fmt: skip
case("raw-big5-subject", [("From", "陳大文".encode("big5") + b" <chan@lib.example.hk>"), TO, ("Subject", "姐妹圖書館申請".encode("big5")), ("Content-Type", "text/plain")], HELLO,
     **{"from": {"address": "chan@lib.example.hk", "name": "陳大文"}, "subject": "姐妹圖書館申請"})  # fmt: skip
case("raw-big5-with-utf8-body", [("From", "Lin <lin@lib.example.tw>"), TO, ("Subject", "國立臺灣圖書館".encode("big5")), PLAIN], "你好\r\n".encode(),
     subject="國立臺灣圖書館", text_has=["你好"], body_charset="utf-8")  # fmt: skip
case("raw-sjis-subject", [("From", "佐藤花子".encode("cp932") + b" <sato@lib.example.jp>"), TO, ("Subject", "お問い合わせについて".encode("cp932")), ("Content-Type", "text/plain")], HELLO,
     subject="お問い合わせについて")  # fmt: skip
case("raw-sjis-kanji-name", [("From", "鈴木一郎".encode("cp932") + b" <suzuki@lib.example.jp>"), TO, ("Subject", "札幌市中央図書館".encode("cp932")), ("Content-Type", "text/plain")], HELLO,
     **{"from": {"address": "suzuki@lib.example.jp", "name": "鈴木一郎"}, "subject": "札幌市中央図書館"})  # fmt: skip
case("raw-sjis-with-charset", [("From", "Sato <sato@lib.example.jp>"), TO, ("Subject", "図書館の申込み".encode("cp932")), ("Content-Type", "text/plain; charset=Shift_JIS"), ("Content-Transfer-Encoding", "8bit")], "よろしくお願いします。\r\n".encode("cp932"),
     subject="図書館の申込み", text_has=["よろしくお願いします"], body_charset="shift_jis")  # fmt: skip
case("raw-utf8-subject-latin-body", [("From", "Jose <jose@bib.example.es>"), TO, ("Subject", "Año nuevo – biblioteca".encode()), ("Content-Type", "text/plain; charset=iso-8859-1"), ("Content-Transfer-Encoding", "8bit")], "¡Feliz año!\r\n".encode("latin-1"),
     subject="Año nuevo – biblioteca", text_has=["¡Feliz año!"], body_charset="iso-8859-1")  # fmt: skip
case("raw-latin1-subject", [("From", "Juergen <j@stadtbib.example.de>"), TO, ("Subject", "Grüße aus München".encode("latin-1")), ("Content-Type", "text/plain; charset=iso-8859-1"), ("Content-Transfer-Encoding", "8bit")], "Schöne Grüße\r\n".encode("latin-1"),
     subject="Grüße aus München", text_has=["Schöne Grüße"])  # fmt: skip
case("raw-gbk-subject-latin-label", [("From", "Zhao <zhao@lib.example.cn>"), TO, ("Subject", "合作意向书".encode("gbk")), ("Content-Type", "text/plain; charset=iso-8859-1")], HELLO,
     subject="合作意向书")  # fmt: skip

# --- ISO-2022-JP, UTF-7, ks_c_5601 ------------------------------------------------------------
case("iso2022jp-encoded", [("From", ew("鈴木一郎", "iso-2022-jp") + " <suzuki@lib.example.jp>"), TO, ("Subject", ew("姉妹図書館について", "iso-2022-jp")), ("Content-Type", "text/plain; charset=ISO-2022-JP"), ("Content-Transfer-Encoding", "7bit")], "はじめまして。鈴木です。\r\n".encode("iso-2022-jp"),
     **{"from": {"address": "suzuki@lib.example.jp", "name": "鈴木一郎"}, "subject": "姉妹図書館について", "text_has": ["はじめまして。鈴木です。"], "body_charset": "iso-2022-jp"})  # fmt: skip
case("iso2022jp-raw-header", [("From", "Suzuki <suzuki@lib.example.jp>"), TO, ("Subject", "お知らせ".encode("iso-2022-jp")), ("Content-Type", "text/plain; charset=iso-2022-jp")], "了解しました\r\n".encode("iso-2022-jp"),
     subject="お知らせ", text_has=["了解しました"])  # fmt: skip
case("iso2022jp-body-no-label", [("From", "Suzuki <suzuki@lib.example.jp>"), TO, ("Subject", "No label")], "図書館の利用案内です。\r\n".encode("iso-2022-jp"),
     text_has=["図書館の利用案内です。"], body_charset="")  # fmt: skip
case("iso2022jp-windows-rows", [("From", "Suzuki <suzuki@lib.example.jp>"), TO, ("Subject", "=?ISO-2022-JP?B?" + base64.b64encode(windows_jis("㈱図書館①")).decode() + "?="), ("Content-Type", "text/plain; charset=iso-2022-jp")], windows_jis("①会議は㈱本社で\r\n"),
     subject="㈱図書館①", text_has=["①会議は㈱本社で"])  # fmt: skip
case("utf7-body", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "UTF-7"), ("Content-Type", "text/plain; charset=utf-7")], "Olá, tudo bem? Até já.\r\n".encode("utf-7"),
     text_has=["Olá, tudo bem? Até já."], body_charset="utf-7")  # fmt: skip
case("utf7-subject", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "=?utf-7?Q?" + "Caf+AOk- Biblioteca".replace(" ", "_") + "?="), PLAIN], HELLO,
     subject="Café Biblioteca")  # fmt: skip
case("utf7-unicode-label", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "UTF-7 label"), ("Content-Type", "text/plain; charset=unicode-1-1-utf-7")], "图书馆 welcome\r\n".encode("utf-7"),
     text_has=["图书馆 welcome"], body_charset="unicode-1-1-utf-7")  # fmt: skip
case("ks-c-5601-body", [("From", "=?ks_c_5601-1987?B?" + base64.b64encode("김민수".encode("cp949")).decode() + "?= <kim@lib.example.kr>"), TO, ("Subject", "=?ks_c_5601-1987?B?" + base64.b64encode("도서관 협력 제안".encode("cp949")).decode() + "?="), ("Content-Type", "text/plain; charset=\"ks_c_5601-1987\""), ("Content-Transfer-Encoding", "base64")], b64("안녕하세요. 서울 도서관입니다.\r\n".encode("cp949")),
     **{"from": {"address": "kim@lib.example.kr", "name": "김민수"}, "subject": "도서관 협력 제안", "text_has": ["안녕하세요. 서울 도서관입니다."], "body_charset": "ks_c_5601-1987"})  # fmt: skip
case("ks-c-5601-uhc-chars", [("From", "Park <park@lib.example.kr>"), TO, ("Subject", "=?ks_c_5601-1987?B?" + base64.b64encode("똠방각하".encode("cp949")).decode() + "?="), ("Content-Type", "text/plain; charset=ks_c_5601-1987"), ("Content-Transfer-Encoding", "8bit")], "똠방각하 책\r\n".encode("cp949"),
     subject="똠방각하", text_has=["똠방각하 책"])  # fmt: skip
case("euc-kr-html", [("From", "Park <park@lib.example.kr>"), TO, ("Subject", "HTML"), ("Content-Type", "text/html; charset=euc-kr")], "<html><body><p>부산 도서관</p></body></html>\r\n".encode("euc-kr"),
     text_has=["부산 도서관"], body_charset="euc-kr")  # fmt: skip

# --- Attachment names -------------------------------------------------------------------------
with_attachment("att-rfc2231", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=UTF-8''" + quote("Relatório anual.pdf")], PDF,
                attachments=[["Relatório anual.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-continuations", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename*0*=UTF-8''" + quote("姐妹图书馆") + ";\r\n filename*1*=" + quote("申请表") + ";\r\n filename*2=.pdf"], PDF,
                attachments=[["姐妹图书馆申请表.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-no-charset", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=''annual%20report.pdf"], PDF,
                attachments=[["annual report.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-gbk", ["Content-Type: application/msword", "Content-Disposition: attachment; filename*=gb2312''" + quote("合作协议.doc".encode("gbk"))], PDF,
                attachments=[["合作协议.doc", "application/msword"]])  # fmt: skip
with_attachment("att-rfc2231-language", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename*=utf-8'fr'" + quote("Fiche d’inscription.pdf")], PDF,
                attachments=[["Fiche d’inscription.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2047-quoted", ["Content-Type: application/pdf; name=\"" + ew("申请表.pdf") + "\"", "Content-Disposition: attachment; filename=\"" + ew("申请表.pdf") + "\""], PDF,
                attachments=[["申请表.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2047-name-only", ["Content-Type: image/png; name=\"" + ew("Foto da biblioteca.png", enc="Q") + "\""], PNG,
                attachments=[["Foto da biblioteca.png", "image/png"]])  # fmt: skip
with_attachment("att-rfc2047-folded", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename=\"=?utf-8?B?" + base64.b64encode("Отчёт библиотеки".encode()).decode() + "?=\r\n =?utf-8?B?" + base64.b64encode(" за 2026 год.pdf".encode()).decode() + "?=\""], PDF,
                attachments=[["Отчёт библиотеки за 2026 год.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-name-plain", ["Content-Type: application/pdf; name=brochure.pdf"], PDF,
                attachments=[["brochure.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-raw-utf8-name", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename=\"Biblioteca São Paulo.pdf\"".encode().decode("utf-8", "surrogateescape")], PDF,
                attachments=[["Biblioteca São Paulo.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-raw-gbk-name", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename=\"" + "图书馆简介.pdf".encode("gbk").decode("utf-8", "surrogateescape") + "\""], PDF,
                attachments=[["图书馆简介.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-windows-path", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename=\"C:\\\\Users\\\\ana\\\\Desktop\\\\carta.pdf\""], PDF,
                attachments=[["carta.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-filename-over-name", ["Content-Type: application/pdf; name=\"old.pdf\"", "Content-Disposition: attachment; filename=\"new.pdf\""], PDF,
                attachments=[["new.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-unquoted-spaces", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename=plano de atividades.pdf"], PDF,
                attachments=[["plano de atividades.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-sjis-rfc2047", ["Content-Type: application/pdf; name=\"" + ew("申込書.pdf", "shift_jis") + "\""], PDF,
                attachments=[["申込書.pdf", "application/pdf"]])  # fmt: skip

with_attachment("att-rfc6266-both-forms", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename=\"Relatorio.pdf\"; filename*=UTF-8''" + quote("Relatório.pdf")], PDF,
                attachments=[["Relatório.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-single-quoted", ["Content-Type: application/pdf", "Content-Disposition: attachment; filename='horario.pdf'"], PDF,
                attachments=[["horario.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-upper-case-param", ["Content-Type: application/pdf; NAME=\"" + ew("目录.pdf", "gbk") + "\""], PDF,
                attachments=[["目录.pdf", "application/pdf"]])  # fmt: skip

# --- Unnamed parts get a stable name ------------------------------------------------------------
ctype, body = multipart(
    "b_unnamed1",
    [
        TEXT_PART,
        (["Content-Type: image/png", "Content-Transfer-Encoding: base64"], b64(PNG)),
        (
            ["Content-Type: application/octet-stream", "Content-Transfer-Encoding: base64"],
            b64(b"\x00\x01binary"),
        ),
    ],
)
case("unnamed-image-and-binary", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Unnamed"), ctype], body,
     attachments=[["part-2.png", "image/png"], ["part-3.bin", "application/octet-stream"]], text_has=["Please see the attachment."])  # fmt: skip
inner = b"From: Rui <rui@bib.example.pt>\r\nTo: ana@bib.example.pt\r\nSubject: original\r\n\r\nThe original text.\r\n"
ctype, body = multipart(
    "b_unnamed2",
    [
        (["Content-Type: text/plain; charset=utf-8"], b"Forwarding this.\r\n"),
        (["Content-Type: message/rfc822"], inner),
    ],
)
case("unnamed-forwarded-message", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Fwd: original"), ctype], body,
     attachments=[["part-2.eml", "message/rfc822"]], text_has=["Forwarding this."], text_lacks=["The original text."])  # fmt: skip
ctype, body = multipart(
    "b_unnamed3",
    [
        (["Content-Type: text/plain; charset=utf-8"], b"Meeting invite.\r\n"),
        (
            [
                "Content-Type: text/calendar; method=REQUEST; charset=utf-8",
                "Content-Disposition: attachment",
            ],
            b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        ),
    ],
)
case("unnamed-calendar", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Invite"), ctype], body,
     attachments=[["part-2.ics", "text/calendar"]], text_has=["Meeting invite."])  # fmt: skip
alt_ct, alt_body = multipart(
    "b_alt4",
    [
        (["Content-Type: text/plain; charset=utf-8"], b"Our logo.\r\n"),
        (["Content-Type: text/html; charset=utf-8"], b"<p>Our logo.</p>\r\n"),
    ],
    sub="alternative",
)
ctype, body = multipart(
    "b_rel4",
    [
        ([f"{alt_ct[0]}: {alt_ct[1]}"], alt_body),
        (
            [
                "Content-Type: image/jpeg",
                "Content-ID: <logo@x>",
                "Content-Transfer-Encoding: base64",
            ],
            b64(b"\xff\xd8\xff\xe0JFIF"),
        ),
    ],
    sub="related",
)
case("unnamed-inline-jpeg", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Logo"), ctype], body,
     attachments=[["part-3.jpg", "image/jpeg"]], text_has=["Our logo."], body_charset="utf-8")  # fmt: skip

# --- Invalid UTF-8 bodies ---------------------------------------------------------------------
case("utf8-with-latin1-footer", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Footer"), PLAIN, ("Content-Transfer-Encoding", "8bit")],
     "Olá, a reunião é amanhã às 10h.\r\n".encode() + "-- \r\nEnviado pelo servidor da Câmara\r\n".encode("latin-1"),
     text_has=["Olá, a reunião é amanhã às 10h.", "Enviado pelo servidor da Câmara"], body_charset="utf-8", defects_has=["invalid-utf-8"])  # fmt: skip
case("utf8-cut-mid-character", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Cut"), PLAIN, ("Content-Transfer-Encoding", "8bit")],
     "Gostaríamos de participar no programa de bibliotecas irmãs. 图书".encode()[:-2],
     text_has=["Gostaríamos de participar no programa de bibliotecas irmãs."])  # fmt: skip
case("utf8-label-latin1-body", [("From", "Juergen <j@stadtbib.example.de>"), TO, ("Subject", "Label"), PLAIN, ("Content-Transfer-Encoding", "8bit")],
     "Sehr geehrte Damen und Herren, die Stadtbücherei Köln möchte gerne an dem Programm teilnehmen. Mit freundlichen Grüßen\r\n".encode("latin-1"),
     text_has=["Stadtbücherei Köln möchte", "Grüßen"], body_charset="utf-8")  # fmt: skip
case("utf8-label-gbk-body", [("From", "Wang <wang@lib.example.cn>"), TO, ("Subject", "GBK"), PLAIN, ("Content-Transfer-Encoding", "8bit")],
     "您好！我们是杭州市图书馆，希望与贵馆建立姐妹图书馆关系。我馆藏书二百万册，每年举办读书活动。此致敬礼\r\n".encode("gbk"),
     text_has=["我们是杭州市图书馆", "建立姐妹图书馆关系"], body_charset="utf-8")  # fmt: skip
case("utf8-surrogate-bytes", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Surrogates"), PLAIN, ("Content-Transfer-Encoding", "8bit")],
     "Início do texto ".encode() + b"\xed\xa0\x80" + " e o fim está aqui, com ação e coração.\r\n".encode(),
     text_has=["Início do texto", "e o fim está aqui, com ação e coração."])  # fmt: skip
case("utf8-invalid-base64", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Base64"), PLAIN, ("Content-Transfer-Encoding", "base64")],
     b64("Prezados, segue a programação cultural de março.\r\n".encode() + b"\xff\xfe" + "Atenciosamente, João\r\n".encode()),
     text_has=["segue a programação cultural de março.", "Atenciosamente, João"])  # fmt: skip
case("utf8-invalid-qp", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "QP"), PLAIN, ("Content-Transfer-Encoding", "quoted-printable")],
     quopri.encodestring("Bibliothèque: horaires d’été, fermée le lundi. ".encode() + "Merci à tous\r\n".encode("latin-1")),
     text_has=["Bibliothèque: horaires d’été, fermée le lundi.", "Merci à tous"])  # fmt: skip
case("no-charset-utf8-body", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "No charset"), ("Content-Type", "text/plain"), ("Content-Transfer-Encoding", "8bit")],
     "Biblioteca Pública — programação de verão 📚\r\n".encode(),
     text_has=["Biblioteca Pública — programação de verão 📚"], body_charset="")  # fmt: skip
case("no-content-type-latin1", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "No type")],
     "La bibliothèque de Genève accueille les enfants le mercredi après-midi, à partir de 14h, pour l'heure du conte.\r\n".encode("latin-1"),
     text_has=["La bibliothèque de Genève accueille", "mercredi après-midi, à partir de 14h"], body_charset="")  # fmt: skip


# --- Round 2 (written blind, before any change they asked for; docs/parse.md has the figures) ---
def raw_case(name: str, raw: bytes, **expected) -> None:
    """A mail given byte for byte (line endings and header order exactly as written)."""
    global N
    N += 1
    CASES.append((f"{N:02d}-{name}", raw, expected))


def sesc(data: bytes) -> str:
    """Raw 8-bit bytes carried through multipart()'s header lines unchanged."""
    return data.decode("utf-8", "surrogateescape")


case("raw-big5-from-subject-body", [("From", "陳美玲".encode("big5") + b" <chen@lib.example.tw>"), TO, ("Subject", "圖書館交流計畫".encode("big5")), ("Content-Type", "text/plain; charset=big5"), ("Content-Transfer-Encoding", "8bit")], "您好，這是臺中市立圖書館的來信。\r\n".encode("big5"),
     **{"from": {"address": "chen@lib.example.tw", "name": "陳美玲"}, "subject": "圖書館交流計畫", "text_has": ["這是臺中市立圖書館的來信"], "body_charset": "big5"})  # fmt: skip
case("raw-euckr-subject", [("From", "Lee <lee@lib.example.kr>"), TO, ("Subject", "도서관 자매결연 신청".encode("euc-kr")), ("Content-Type", "text/plain; charset=euc-kr"), ("Content-Transfer-Encoding", "8bit")], "대구 시립 도서관입니다.\r\n".encode("euc-kr"),
     subject="도서관 자매결연 신청", text_has=["대구 시립 도서관입니다."])  # fmt: skip
case("raw-koi8r-from-subject", [("From", "Ольга Петрова".encode("koi8-r") + b" <olga@biblioteka.example.ru>"), TO, ("Subject", "Заявка библиотеки".encode("koi8-r")), ("Content-Type", "text/plain; charset=koi8-r"), ("Content-Transfer-Encoding", "8bit")], "Здравствуйте! Мы городская библиотека Казани.\r\n".encode("koi8-r"),
     **{"from": {"address": "olga@biblioteka.example.ru", "name": "Ольга Петрова"}, "subject": "Заявка библиотеки", "text_has": ["Мы городская библиотека Казани."], "body_charset": "koi8-r"})  # fmt: skip
case("raw-cp1251-subject-body-label", [("From", "Ivan <ivan@biblioteka.example.by>"), TO, ("Subject", "Сотрудничество библиотек".encode("cp1251")), ("Content-Type", "text/plain; charset=windows-1251"), ("Content-Transfer-Encoding", "8bit")], "Добрый день, коллеги.\r\n".encode("cp1251"),
     subject="Сотрудничество библиотек", text_has=["Добрый день, коллеги."], body_charset="windows-1251")  # fmt: skip
case("raw-cp1251-subject-utf8-body", [("From", "Ivan <ivan@biblioteka.example.by>"), TO, ("Subject", "Приглашение на конференцию".encode("cp1251")), PLAIN], "Добрый день.\r\n".encode(),
     subject="Приглашение на конференцию", text_has=["Добрый день."])  # fmt: skip
case("raw-cp1251-to-name", [("From", "Ivan <ivan@biblioteka.example.by>"), ("To", "Мария Иванова".encode("cp1251") + b" <maria@biblioteka.example.by>"), ("Subject", "Names"), ("Content-Type", "text/plain; charset=windows-1251")], "Спасибо!\r\n".encode("cp1251"),
     to=[["maria@biblioteka.example.by", "Мария Иванова"]], text_has=["Спасибо!"])  # fmt: skip
case("ew-q-split-mid-character", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "=?utf-8?Q?Biblioth=C3?= =?utf-8?Q?=A8que_municipale?="), PLAIN], HELLO,
     subject="Bibliothèque municipale")  # fmt: skip
GBK_SPLIT = "图书馆合作".encode("gbk")
case("ew-gbk-split-mid-character", [("From", "Wang <wang@lib.example.cn>"), TO, ("Subject", "=?gbk?B?" + base64.b64encode(GBK_SPLIT[:3]).decode() + "?=\r\n =?gbk?B?" + base64.b64encode(GBK_SPLIT[3:]).decode() + "?="), PLAIN], HELLO,
     subject="图书馆合作")  # fmt: skip
case("ew-folded-with-tab", [("From", "=?utf-8?Q?Jo=C3=A3o?=\r\n\t<joao@bib.example.pt>"), ("To", "sisters@program.example,\r\n\tAna <ana@bib.example.pt>"), ("Subject", "=?utf-8?Q?Biblioteca_p=C3=BAblica?=\r\n\t=?utf-8?Q?_de_Lisboa?="), PLAIN], HELLO,
     **{"from": {"address": "joao@bib.example.pt", "name": "João"}, "subject": "Biblioteca pública de Lisboa", "to": [["sisters@program.example", ""], ["ana@bib.example.pt", "Ana"]]})  # fmt: skip
case("subject-folded-tab-plain", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Reading programme for\r\n\tchildren and teenagers"), PLAIN], HELLO,
     subject="Reading programme for children and teenagers")  # fmt: skip
with_attachment("att-rfc2231-mixed-pieces", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename*0*=utf-8''" + quote("Relatório") + ";\r\n filename*1=\" anual\";\r\n filename*2*=" + quote(" 2026.pdf")], PDF,
                attachments=[["Relatório anual 2026.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-charset-each-piece", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename*0*=utf-8''" + quote("Programação") + ";\r\n filename*1*=utf-8''" + quote(" cultural.pdf")], PDF,
                attachments=[["Programação cultural.pdf", "application/pdf"]])  # fmt: skip
SPLIT_NAME = quote("姐妹馆.pdf")
with_attachment("att-rfc2231-split-mid-character", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename*0*=UTF-8''" + SPLIT_NAME[:14] + ";\r\n filename*1*=" + SPLIT_NAME[14:]], PDF,
                attachments=[["姐妹馆.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-pieces-out-of-order", ["Content-Type: application/pdf", "Content-Disposition: attachment;\r\n filename*1*=" + quote("informe.pdf") + ";\r\n filename*0*=utf-8''" + quote("año-")], PDF,
                attachments=[["año-informe.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-name-continuations-plain", ["Content-Type: application/pdf;\r\n name*0=\"plano de \";\r\n name*1=\"leitura.pdf\""], PDF,
                attachments=[["plano de leitura.pdf", "application/pdf"]])  # fmt: skip
with_attachment("att-rfc2231-ks-c-5601", ["Content-Type: application/x-hwp", "Content-Disposition: attachment; filename*=ks_c_5601-1987''" + quote("도서관 소개.hwp".encode("cp949"))], PDF,
                attachments=[["도서관 소개.hwp", "application/x-hwp"]])  # fmt: skip
ctype, body = multipart(
    "b_big5name",
    [
        (
            ["Content-Type: text/plain; charset=big5", "Content-Transfer-Encoding: 8bit"],
            "請見附件。".encode("big5"),
        ),
        (
            [
                "Content-Type: application/msword",
                'Content-Disposition: attachment; filename="'
                + sesc("圖書館報告.doc".encode("big5"))
                + '"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(PDF),
        ),
    ],
)
case("att-raw-big5-name", [("From", "Lin <lin@lib.example.tw>"), TO, ("Subject", "Report"), ctype], body,
     text_has=["請見附件。"], attachments=[["圖書館報告.doc", "application/msword"]])  # fmt: skip
TNEF = b"\x78\x9f\x3e\x22\x01\x00\x01\x06\x90\x08\x00\x04\x00\x00\x00\x00\x00\x01\x00\x01\x00"
ctype, body = multipart(
    "b_tnef",
    [
        (
            ["Content-Type: text/plain; charset=us-ascii"],
            b"Please find our signed agreement attached.\r\n",
        ),
        (
            [
                'Content-Type: application/ms-tnef; name="winmail.dat"',
                "Content-Transfer-Encoding: base64",
                'Content-Disposition: attachment; filename="winmail.dat"',
            ],
            b64(TNEF),
        ),
    ],
)
case("tnef-winmail-dat", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Agreement"), ctype], body,
     text_has=["Please find our signed agreement attached."], attachments=[["winmail.dat", "application/ms-tnef"]])  # fmt: skip
ctype, body = multipart(
    "b_tnef2",
    [
        (["Content-Type: application/ms-tnef", "Content-Transfer-Encoding: base64"], b64(TNEF)),
    ],
)
case("tnef-unnamed-only-part", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Outlook RTF"), ctype], body,
     attachments=[["winmail.dat", "application/ms-tnef"]])  # fmt: skip
inner = (
    "From: "
    + ew("Сергей", "koi8-r")
    + " <sergey@biblioteka.example.ru>\r\nTo: ana@bib.example.pt\r\nSubject: "
    + ew("Привет", "koi8-r")
    + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
).encode() + "Текст пересланного письма.\r\n".encode("koi8-r")
ctype, body = multipart(
    "b_nested_koi8",
    [
        (
            [
                "Content-Type: text/plain; charset=iso-8859-1",
                "Content-Transfer-Encoding: quoted-printable",
            ],
            quopri.encodestring("Voilà le message de Sergueï.\r\n".encode("latin-1")),
        ),
        (
            [
                "Content-Type: message/rfc822",
                'Content-Disposition: attachment; filename="Privet.eml"',
            ],
            inner,
        ),
    ],
)
case("nested-rfc822-own-charset", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "Fwd: Privet"), ctype], body,
     text_has=["Voilà le message de Sergueï."], text_lacks=["Текст пересланного"], attachments=[["Privet.eml", "message/rfc822"]], body_charset="iso-8859-1")  # fmt: skip
case("cte-base-64-typo", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Typo"), PLAIN, ("Content-Transfer-Encoding", "base-64")], b64("Bom dia, segue o nosso relatório.\r\n".encode()),
     text_has=["Bom dia, segue o nosso relatório."], text_lacks=["Qm9tIGRpY"])  # fmt: skip
case("cte-quoted-printable-typo", [("From", "Claire <claire@mediatheque.example.fr>"), TO, ("Subject", "Typo"), PLAIN, ("Content-Transfer-Encoding", "quoted_printable")], quopri.encodestring("La médiathèque sera fermée à Noël.\r\n".encode()),
     text_has=["La médiathèque sera fermée à Noël."], text_lacks=["=C3"])  # fmt: skip
case("cte-upper-case-spaces", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "CTE"), PLAIN, ("Content-Transfer-Encoding", " BASE64 ")], b64("Reunião às 15h na biblioteca.\r\n".encode()),
     text_has=["Reunião às 15h na biblioteca."])  # fmt: skip
GARBAGE = b64(
    "Caros colegas, o nosso clube de leitura começa em janeiro.\r\nCumprimentos, Rui\r\n".encode()
)
case("base64-with-garbage", [("From", "Rui <rui@bib.example.pt>"), TO, ("Subject", "Garbage"), PLAIN, ("Content-Transfer-Encoding", "base64")],
     GARBAGE[:40] + b" !\r\n" + GARBAGE[40:] + b"\r\n\r\n--\r\nScanned by MailGate v2\r\n",
     text_has=["o nosso clube de leitura começa em janeiro.", "Cumprimentos, Rui"])  # fmt: skip
ctype, body = multipart(
    "b_twotypes",
    [
        (["Content-Type: text/plain; charset=utf-8"], b"Segue o plano em anexo.\r\n"),
        (
            [
                'Content-Type: application/pdf; name="plano.pdf"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(PDF),
        ),
    ],
)
case("multiple-content-type-headers", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Two types"), ("Content-Type", "text/plain; charset=us-ascii"), ctype], body,
     text_has=["Segue o plano em anexo."], text_lacks=["--b_twotypes"], attachments=[["plano.pdf", "application/pdf"]])  # fmt: skip
ctype, body = multipart(
    "b_noboundary",
    [
        (
            ["Content-Type: text/plain; charset=utf-8"],
            "Aquí va la programación de diciembre.\r\n".encode(),
        ),
        (
            [
                'Content-Type: application/pdf; name="diciembre.pdf"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(PDF),
        ),
    ],
)
case("multipart-missing-boundary", [("From", "Jose <jose@bib.example.es>"), TO, ("Subject", "Sin boundary"), ("Content-Type", "multipart/mixed")], body,
     text_has=["Aquí va la programación de diciembre."], text_lacks=["--b_noboundary"], attachments=[["diciembre.pdf", "application/pdf"]])  # fmt: skip
ctype, body = multipart(
    "b_noclose",
    [
        (
            ["Content-Type: text/plain; charset=utf-8"],
            b"Der Leseclub trifft sich am Donnerstag.\r\n",
        ),
        (
            [
                'Content-Type: application/pdf; name="termine.pdf"',
                "Content-Transfer-Encoding: base64",
            ],
            b64(PDF),
        ),
    ],
)
case("multipart-no-closing-boundary", [("From", "Juergen <j@stadtbib.example.de>"), TO, ("Subject", "Termine"), ctype], body.replace(b"--b_noclose--\r\n", b""),
     text_has=["Der Leseclub trifft sich am Donnerstag."], attachments=[["termine.pdf", "application/pdf"]])  # fmt: skip
raw_case("crlf-lf-mix", b"From: Ana Silva <ana@bib.example.pt>\r\nTo: sisters@program.example\nSubject: Mixed\r\n line endings\nMessage-ID: <mix@mail.example>\r\nDate: Tue, 01 Dec 2026 08:00:00 +0000\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\n\r\nPrimeira linha.\nSegunda linha, a\xc3\xa7\xc3\xa3o.\r\n",
         **{"from": {"address": "ana@bib.example.pt", "name": "Ana Silva"}, "subject": "Mixed line endings", "text_has": ["Primeira linha.", "Segunda linha, ação."]})  # fmt: skip
raw_case("lf-only-multipart", b"From: Ana <ana@bib.example.pt>\nTo: sisters@program.example\nSubject: LF\nMessage-ID: <lf@mail.example>\nDate: Tue, 01 Dec 2026 08:00:00 +0000\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"lf1\"\n\n--lf1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nS=C3=B3 linhas LF.\n--lf1\nContent-Type: image/png; name=\"logo.png\"\nContent-Transfer-Encoding: base64\n\n" + base64.b64encode(PNG) + b"\n--lf1--\n",
         text_has=["Só linhas LF."], attachments=[["logo.png", "image/png"]])  # fmt: skip
case("html-meta-charset-only", [("From", "Ivan <ivan@biblioteka.example.by>"), TO, ("Subject", "HTML"), ("Content-Type", "text/html")], '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251"></head><body><p>Библиотека имени Пушкина приглашает читателей.</p></body></html>\r\n'.encode("cp1251"),
     text_has=["Библиотека имени Пушкина приглашает читателей."], body_charset="")  # fmt: skip
case("charset-param-twice", [("From", "Ana <ana@bib.example.pt>"), TO, ("Subject", "Twice"), ("Content-Type", "text/plain; charset=us-ascii; charset=utf-8"), ("Content-Transfer-Encoding", "8bit")], "Biblioteca Municipal de Évora — horário de verão.\r\n".encode(),
     text_has=["Biblioteca Municipal de Évora — horário de verão."])  # fmt: skip
case("gb18030-four-byte", [("From", "Wang <wang@lib.example.cn>"), TO, ("Subject", ew("藏文文献 ༄༅", "gb18030")), ("Content-Type", "text/plain; charset=GB18030"), ("Content-Transfer-Encoding", "base64")], b64("我们收藏藏文文献：བོད་ཡིག\r\n".encode("gb18030")),
     subject="藏文文献 ༄༅", text_has=["我们收藏藏文文献：བོད་ཡིག"])  # fmt: skip


def main() -> None:
    for old in HERE.glob("*.eml"):
        old.unlink()
    expected = {}
    for name, raw, facts in CASES:
        (HERE / f"{name}.eml").write_bytes(raw)
        expected[f"{name}.eml"] = facts
    (HERE / "expected.json").write_text(
        json.dumps(expected, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{len(CASES)} mails written to {HERE}")


if __name__ == "__main__":
    main()
