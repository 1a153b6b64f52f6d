"""A deterministic, realistic mix of program mail for the benchmarks.

`corpus(n)` returns n raw messages (CRLF, as they travel) drawn with random.Random(seed):

- 40% applications: English ``Library name: ...`` forms and Chinese ``图书馆名称：...`` forms
  (GB18030/base64 as QQ Mail and Foxmail send them, or UTF-8), some multipart/alternative,
  some with a required field left out;
- 30% replies to program mail: ``In-Reply-To``/``References``, a short answer (accept, decline,
  question; English or Chinese) over quoted history in Gmail, Outlook, QQ Mail or Apple Mail
  style, plain or multipart/alternative with the client's HTML;
- 10% bounces: RFC 3464 multipart/report from MAILER-DAEMON, status 5.1.1;
- 10% auto-replies: ``Auto-Submitted: auto-replied`` with "Out of Office" / "自动回复" subjects;
- 10% misc: HTML-only, windows-1252, Big5 and ISO-2022-JP mail.

Every message has its own Message-ID (`message_id(raw)` reads it back), so none is a duplicate.
"""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, datetime, timedelta
from email import charset as email_charset
from email import message_from_string
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, parseaddr

PROGRAM = "sisters@program.example"
PROGRAM_NAME = "Sister Libraries Program"
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
WIRE = compat32.clone(linesep="\r\n")

MIX = (
    ("application", 0.40),
    ("reply", 0.30),
    ("bounce", 0.10),
    ("auto_reply", 0.10),
    ("misc", 0.10),
)

EN_LIBRARIES = [
    ("Biblioteca Municipal de Segovia", "Public", "Spain", "Segovia", "Spanish, English"),
    ("Nairobi Community Library", "Public", "Kenya", "Nairobi", "English, Swahili"),
    ("Tartu City Library", "Public", "Estonia", "Tartu", "Estonian, English"),
    ("Biblioteca Municipal Almeida Garrett", "Public", "Portugal", "Porto", "Portuguese"),
    ("Hobart Grammar School Library", "School", "Australia", "Hobart", "English"),
    ("Bibliothèque municipale de Lyon", "Public", "France", "Lyon", "French, English"),
    ("Bergen Public Library", "Public", "Norway", "Bergen", "Norwegian, English"),
    ("Universidad de Cusco Library", "Academic", "Peru", "Cusco", "Spanish, Quechua"),
    ("Accra Central Library", "Public", "Ghana", "Accra", "English"),
    ("Ottawa Public Library, Carlingwood", "Public", "Canada", "Ottawa", "English, French"),
    ("Stadtbibliothek Freiburg", "Public", "Germany", "Freiburg", "German, English"),
    ("Kyoto Prefectural Library", "Public", "Japan", "Kyoto", "Japanese, English"),
]
EN_FIRST = ["Maria", "John", "Anna", "Pedro", "Aisha", "Liam", "Sofia", "Kwame", "Elin", "Hugo"]
EN_LAST = ["Lopez", "Mwangi", "Tamm", "Silva", "Okafor", "Martin", "Berg", "Quispe", "Mensah"]
EN_INTERESTS = [
    "children's reading, local history, book exchange",
    "digital literacy, makerspaces",
    "reading clubs for teenagers, author visits",
    "heritage collections, digitisation",
    "multilingual story time",
]
ZH_CITIES = [
    ("杭州", "浙江"),
    ("成都", "四川"),
    ("西安", "陕西"),
    ("苏州", "江苏"),
    ("厦门", "福建"),
    ("长沙", "湖南"),
    ("青岛", "山东"),
    ("昆明", "云南"),
]
ZH_DISTRICTS = ["西湖区", "武侯区", "雁塔区", "姑苏区", "思明区", "岳麓区", "市南区", "五华区"]
ZH_TYPES = ["公共图书馆", "高校图书馆", "中小学图书馆", "少年儿童图书馆"]
ZH_NAMES = ["王丽", "李强", "张敏", "刘洋", "陈静", "杨帆", "赵磊", "黄婷"]
ZH_PINYIN = ["wangli", "liqiang", "zhangmin", "liuyang", "chenjing", "yangfan", "zhaolei"]
ZH_INTERESTS = ["儿童阅读，地方文献", "数字阅读推广", "古籍保护，馆员交流", "青少年读书会"]

GMAIL_HTML = (
    '<div dir="ltr">{reply}</div><br><div class="gmail_quote"><div dir="ltr" '
    'class="gmail_attr">{attribution}<br></div><blockquote class="gmail_quote" '
    'style="margin:0px 0px 0px 0.8ex;border-left:1px solid rgb(204,204,204);padding-left:1ex">'
    "{quoted}</blockquote></div>"
)
OUTLOOK_HTML = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
    '<body><div style="font-family: Calibri, Arial, Helvetica, sans-serif; font-size: 12pt;">'
    '{reply}</div><hr style="display:inline-block;width:98%" tabindex="-1">'
    '<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" style="font-size:11pt">'
    "<b>From:</b> {program}<br><b>Sent:</b> {sent}<br><b>To:</b> {to}<br>"
    "<b>Subject:</b> {subject}</font><div>&nbsp;</div></div><div>{quoted}</div></body></html>"
)
QQ_HTML = (
    "<div>{reply}</div><div><br></div><div><br></div>"
    '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
    "------------------&nbsp;原始邮件&nbsp;------------------</div>"
    '<div style="font-size: 12px;background:#efefef;padding:8px;">'
    '<div><b>发件人:</b>&nbsp;"{program_name}"&lt;{program}&gt;;</div>'
    "<div><b>发送时间:</b>&nbsp;{sent_zh}</div><div><b>收件人:</b>&nbsp;{to};</div>"
    "<div><b>主题:</b>&nbsp;{subject}</div></div><div><br></div>{quoted}"
)

PROGRAM_LETTER_EN = """Dear colleagues,

We are pleased to propose a partnership between your library and {partner}.
Both libraries listed {interest} among their interests, and your working
languages overlap. Please reply to this message with "yes" to accept or
"no" to decline; we will introduce you to each other once both have answered.

With best wishes,
The Sister Libraries Program team
"""
PROGRAM_LETTER_ZH = """尊敬的同事：

我们很高兴为贵馆推荐一所姐妹图书馆：{partner}。
两馆都对{interest}感兴趣。请直接回复本邮件，回复"同意"表示接受，回复"不同意"表示谢绝。

姐妹图书馆项目组
"""
REPLIES_EN = [
    "Yes, we accept the proposed partnership. We look forward to working together!",
    "Thank you, we are happy to accept.\n\nOur director will sign the MOU next week.",
    "Unfortunately we have to decline at this time; our team is too small this year.",
    "No thank you, we would prefer a partner in Latin America.",
    "Could you tell us a bit more about the other library before we decide?",
    "Yes please! Count us in.",
]
REPLIES_ZH = [
    "同意，我们很高兴与对方图书馆结为姐妹图书馆。",
    "谢谢推荐！我们同意，期待合作。",
    "很抱歉，我们今年暂时不参加，不同意这次配对。",
    "请问对方图书馆的规模有多大？我们想了解更多情况再决定。",
]
AUTO_EN = [
    "I am out of the office until {until:%B} {until.day}, {until:%Y} with limited access to "
    "e-mail.\nFor urgent matters please contact circulation@{domain}.",
    "Thank you for your message. I am currently on annual leave and will return on "
    "{until:%d %B %Y}. Your e-mail will not be forwarded.",
]
AUTO_ZH = [
    "您好，我正在休假，{until.month}月{until.day}日返回，期间不便查看邮件。急事请致电馆办公室。",
    "这是一封自动回复邮件。您的来信已收到，我将于{until.year}年{until.month}月{until.day}日后回复。",
]


def _qp(name: str) -> email_charset.Charset:
    cs = email_charset.Charset(name)
    cs.body_encoding = email_charset.QP
    return cs


def _b64(name: str) -> email_charset.Charset:
    cs = email_charset.Charset(name)
    cs.header_encoding = email_charset.BASE64
    cs.body_encoding = email_charset.BASE64
    return cs


def _text(body: str, subtype: str, charset: str, cte: str = "qp") -> MIMEText:
    if charset in ("us-ascii", "iso-2022-jp"):
        return MIMEText(body, subtype, charset)
    return MIMEText(body, subtype, _qp(charset) if cte == "qp" else _b64(charset))


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _html_paragraphs(text: str) -> str:
    return "".join(f"<div>{_html_escape(line) or '<br>'}</div>" for line in text.split("\n"))


def _encoded_words(text: str, charset: str) -> str:
    """RFC 2047 B-encoded words, labelled with the charset name as given (as clients do)."""
    words, chunk = [], ""
    for ch in text:
        if len((chunk + ch).encode(charset)) > 42:
            words.append(chunk)
            chunk = ""
        chunk += ch
    words.append(chunk)
    return " ".join(
        f"=?{charset}?B?{base64.b64encode(w.encode(charset)).decode()}?=" for w in words if w
    )


def _header(value: str, charset: str) -> str:
    return value if value.isascii() else _encoded_words(value, charset)


def _address(name: str, address: str, charset: str = "utf-8") -> str:
    if not name:
        return address
    if name.isascii():
        return f'"{name}" <{address}>' if "," in name else f"{name} <{address}>"
    return f"{_encoded_words(name, charset)} <{address}>"


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    # -- envelope ---------------------------------------------------------------------------
    def _finish(self, msg, sender: str, subject: str, charset: str = "utf-8", headers=()) -> bytes:
        self.n += 1
        rng = self.rng
        date = T0 + timedelta(minutes=self.n * 3, seconds=rng.randrange(60))
        address = parseaddr(sender)[1]
        domain = address.rsplit("@", 1)[1]
        # The MIME classes put their own headers first; mail clients put them last.
        mime = [(k, msg[k]) for k in ("MIME-Version", "Content-Type", "Content-Transfer-Encoding")]
        for name, _ in mime:
            del msg[name]
        bounce = address.lower().startswith("mailer-daemon@")
        msg["Return-Path"] = "<>" if bounce else f"<{address}>"
        msg["Received"] = (
            f"from mail.{domain} (mail.{domain} [192.0.2.{rng.randrange(1, 255)}])\r\n"
            f"\tby mx.program.example (Postfix) with ESMTPS id {rng.getrandbits(40):X}\r\n"
            f"\tfor <{PROGRAM}>; {format_datetime(date + timedelta(seconds=2))}"
        )
        msg["From"] = sender
        msg["To"] = f"{PROGRAM_NAME} <{PROGRAM}>"
        msg["Subject"] = _header(subject, charset)
        msg["Date"] = format_datetime(date)
        msg["Message-ID"] = f"<bench.{self.n}.{rng.getrandbits(48):012x}@{domain}>"
        for name, value in headers:
            msg[name] = value
        msg["MIME-Version"] = "1.0"
        for name, value in mime[1:]:
            if value is not None:
                msg[name] = value
        return msg.as_bytes(policy=WIRE)

    # -- applications ---------------------------------------------------------------------------
    def application(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            return self._application_en()
        return self._application_zh()

    def _application_en(self) -> bytes:
        rng = self.rng
        name, kind, country, city, langs = rng.choice(EN_LIBRARIES)
        first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
        local = f"{first.lower()}.{last.lower()}{self.n}"
        domain = re.sub(r"[^a-z]", "", city.lower()) + "-library.example.org"
        email = f"{local}@{domain}"
        fields = [
            ("Library name", name),
            ("Type of library", kind),
            ("Country", country),
            ("City", city),
            ("Contact person", f"{first} {last}"),
            ("Contact email", email),
            ("Working languages", langs),
            ("Population served", f"{rng.randrange(5, 900)},000"),
            ("Areas of interest", rng.choice(EN_INTERESTS)),
            ("Communication preferences", rng.choice(["e-mail, monthly", "video calls"])),
            ("Website", f"https://www.{domain}"),
        ]
        if rng.random() < 0.2:  # an incomplete form
            fields.pop(rng.choice([1, 3, 6]))
        style = rng.random()
        lines = []
        for label, value in fields:
            if style < 0.2:
                lines.append(f"- **{label}:** {value}")
            elif style < 0.3:
                lines.append(f"{label.upper()}: {value}")
            else:
                lines.append(f"{label}: {value}")
        body = (
            "Dear program team,\n\nWe would like to find a sister library abroad. "
            "Our details:\n\n" + "\n".join(lines) + f"\n\nBest regards,\n{first} {last}\n{name}\n"
        )
        subject = rng.choice(
            ["Application: sister library", "Sister library application", "Joining the program"]
        )
        sender = _address(f"{first} {last}", email)
        return self._finish(self._maybe_alternative(body, "utf-8"), sender, subject)

    def _application_zh(self) -> bytes:
        rng = self.rng
        (city, province), district = rng.choice(ZH_CITIES), rng.choice(ZH_DISTRICTS)
        person = rng.choice(ZH_NAMES)
        email = f"{rng.choice(ZH_PINYIN)}{self.n}@{rng.choice(['qq.com', 'lib.example.cn'])}"
        library = f"{city}市{district}{rng.choice(['图书馆', '少年儿童图书馆'])}"
        fields = [
            ("图书馆名称", library),
            ("图书馆类型", rng.choice(ZH_TYPES)),
            ("国家", "中国"),
            ("城市", city),
            ("联系人", person),
            ("电子邮件", email),
            ("工作语言", rng.choice(["中文，英语", "中文", "汉语、英语"])),
            ("服务人口", f"{rng.randrange(10, 300)}万"),
            ("合作兴趣", rng.choice(ZH_INTERESTS)),
        ]
        if rng.random() < 0.2:
            fields.pop(rng.choice([1, 3, 6]))
        colon = "：" if rng.random() < 0.8 else ":"
        body = (
            "您好！\n\n我们希望寻找一所国外的姐妹图书馆，以下是我馆的信息：\n\n"
            + "\n".join(f"{label}{colon}{value}" for label, value in fields)
            + f"\n\n谢谢！\n{person}\n{province}省{library}\n"
        )
        charset = "gb18030" if rng.random() < 0.5 else "utf-8"
        subject = rng.choice(["申请姐妹图书馆", "姐妹图书馆项目申请", "申请加入姐妹图书馆项目"])
        sender = _address(person, email, charset)
        msg = self._maybe_alternative(body, charset, cte="base64")
        return self._finish(msg, sender, subject, charset)

    def _maybe_alternative(self, body: str, charset: str, cte: str = "qp"):  # noqa: ANN202
        if self.rng.random() < 0.3:
            alt = MIMEMultipart("alternative")
            alt.attach(_text(body, "plain", charset, cte))
            html = f"<html><body>{_html_paragraphs(body)}</body></html>"
            alt.attach(_text(html, "html", charset, cte))
            return alt
        return _text(body, "plain", charset, cte)

    # -- replies ------------------------------------------------------------------------------
    def reply(self) -> bytes:
        rng = self.rng
        zh = rng.random() < 0.35
        style = rng.choice(
            ["qq", "qq", "gmail", "outlook"] if zh else ["gmail", "outlook", "apple"]
        )
        partner_name = rng.choice(EN_LIBRARIES)[0]
        if zh:
            person = rng.choice(ZH_NAMES)
            email = f"{rng.choice(ZH_PINYIN)}{self.n}@qq.com"
            answer = rng.choice(REPLIES_ZH)
            letter = PROGRAM_LETTER_ZH.format(partner=partner_name, interest="儿童阅读")
            original_subject = "姐妹图书馆配对建议"
        else:
            person = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
            email = f"{person.split()[0].lower()}{self.n}@library{self.n % 97}.example.net"
            answer = rng.choice(REPLIES_EN)
            letter = PROGRAM_LETTER_EN.format(partner=partner_name, interest="children's reading")
            original_subject = "Proposed sister library partnership"
        sent = T0 - timedelta(days=rng.randrange(1, 20), minutes=rng.randrange(600))
        program = f"{PROGRAM_NAME} <{PROGRAM}>"
        to = f"{person} <{email}>"
        if style == "gmail":
            attribution = f"On {sent:%a, %b %d, %Y at %H:%M} {program} wrote:"
            history = attribution + "\n" + "".join(f"> {line}\n" for line in letter.split("\n"))
            html = GMAIL_HTML.format(
                reply=_html_paragraphs(answer),
                attribution=_html_escape(attribution),
                quoted=_html_paragraphs(letter),
            )
        elif style == "outlook":
            history = (
                "________________________________\n"
                f"From: {program}\nSent: {sent:%A, %B %d, %Y %I:%M %p}\nTo: {to}\n"
                f"Subject: {original_subject}\n\n{letter}"
            )
            html = OUTLOOK_HTML.format(
                reply=_html_paragraphs(answer),
                program=_html_escape(program),
                sent=f"{sent:%A, %B %d, %Y %I:%M %p}",
                to=_html_escape(to),
                subject=_html_escape(original_subject),
                quoted=_html_paragraphs(letter),
            )
        elif style == "qq":
            sent_zh = f"{sent.year}年{sent.month}月{sent.day}日 {sent:%H:%M}"
            history = (
                "------------------&nbsp;原始邮件&nbsp;------------------\n"
                f'发件人: "{PROGRAM_NAME}"<{PROGRAM}>;\n发送时间: {sent_zh}\n'
                f"收件人: {to};\n主题: {original_subject}\n\n{letter}"
            )
            html = QQ_HTML.format(
                reply=_html_paragraphs(answer),
                program_name=PROGRAM_NAME,
                program=PROGRAM,
                sent_zh=sent_zh,
                to=_html_escape(to),
                subject=original_subject,
                quoted=_html_paragraphs(letter),
            )
        else:  # Apple Mail
            attribution = f"On {sent:%d %b %Y}, at {sent:%H:%M}, {program} wrote:"
            history = attribution + "\n\n" + "".join(f"> {line}\n" for line in letter.split("\n"))
            html = (
                f'<html><body>{_html_paragraphs(answer)}<div><br><blockquote type="cite">'
                f"<div>{_html_escape(attribution)}</div>{_html_paragraphs(letter)}"
                "</blockquote></div></body></html>"
            )
        plain = f"{answer}\n\n{history}"
        charset = "gb18030" if zh and style == "qq" else "utf-8"
        cte = "base64" if charset == "gb18030" else "qp"
        if rng.random() < 0.5:
            msg = MIMEMultipart("alternative")
            msg.attach(_text(plain, "plain", charset, cte))
            msg.attach(_text(html, "html", charset, cte))
        else:
            msg = _text(plain, "plain", charset, cte)
        thread = f"<mf.{rng.getrandbits(40):010x}@program.example>"
        prefix = rng.choice(["Re: ", "RE: ", "回复：", "回复: "] if zh else ["Re: ", "RE: "])
        return self._finish(
            msg,
            _address(person, email, charset),
            prefix + original_subject,
            charset,
            headers=[("In-Reply-To", thread), ("References", thread)],
        )

    # -- bounces ------------------------------------------------------------------------------
    def bounce(self) -> bytes:
        rng = self.rng
        mta = rng.choice(["mx1.library.example.net", "mail.example.edu", "smtp.example.cn"])
        user = f"{rng.choice(EN_FIRST).lower()}{rng.randrange(1000)}"
        failed = f"{user}@{mta.split('.', 1)[1]}"
        boundary = f"{rng.getrandbits(40):010X}.{self.n}/mx.program.example"
        arrival = format_datetime(T0)
        text = (
            "MIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"\n\n'
            "This is a MIME-encapsulated message.\n\n"
            f"--{boundary}\n"
            "Content-Description: Notification\n"
            "Content-Type: text/plain; charset=us-ascii\n\n"
            "This is the mail system at host mx.program.example.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n\n"
            f"<{failed}>: host {mta}[198.51.100.{rng.randrange(1, 255)}] said: 550 5.1.1\n"
            f"    <{failed}>: Recipient address rejected: User unknown in virtual mailbox\n"
            "    table (in reply to RCPT TO command)\n\n"
            f"--{boundary}\n"
            "Content-Description: Delivery report\n"
            "Content-Type: message/delivery-status\n\n"
            "Reporting-MTA: dns; mx.program.example\n"
            f"X-Postfix-Queue-ID: {rng.getrandbits(40):X}\n"
            f"Arrival-Date: {arrival}\n\n"
            f"Final-Recipient: rfc822; {failed}\n"
            f"Original-Recipient: rfc822;{failed}\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            f"Remote-MTA: dns; {mta}\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User\n"
            "    unknown in virtual mailbox table\n\n"
            f"--{boundary}\n"
            "Content-Description: Undelivered Message Headers\n"
            "Content-Type: text/rfc822-headers\n\n"
            f"From: {PROGRAM_NAME} <{PROGRAM}>\n"
            f"To: {failed}\n"
            "Subject: Proposed sister library partnership\n"
            f"Message-ID: <mf.{rng.getrandbits(40):010x}@program.example>\n"
            f"Date: {format_datetime(T0 - timedelta(hours=1))}\n\n"
            f"--{boundary}--\n"
        )
        msg = message_from_string(text, policy=compat32)
        return self._finish(
            msg,
            "MAILER-DAEMON@mx.program.example (Mail Delivery System)",
            "Undelivered Mail Returned to Sender",
            headers=[("Auto-Submitted", "auto-replied")],
        )

    # -- auto-replies -------------------------------------------------------------------------
    def auto_reply(self) -> bytes:
        rng = self.rng
        until = T0 + timedelta(days=rng.randrange(3, 40))
        if rng.random() < 0.4:
            person = rng.choice(ZH_NAMES)
            email = f"{rng.choice(ZH_PINYIN)}{self.n}@lib.example.cn"
            body = rng.choice(AUTO_ZH).format(until=until)
            subject = rng.choice(["自动回复: 姐妹图书馆配对建议", "自动回复：Re: 申请姐妹图书馆"])
            charset = rng.choice(["gb18030", "utf-8"])
            sender = _address(person, email, charset)
        else:
            person = f"{rng.choice(EN_FIRST)} {rng.choice(EN_LAST)}"
            domain = f"library{self.n % 89}.example.org"
            email = f"{person.split()[0].lower()}{self.n}@{domain}"
            body = rng.choice(AUTO_EN).format(until=until, domain=domain)
            subject = rng.choice(
                [
                    "Out of Office: Proposed sister library partnership",
                    "Automatic reply: Proposed sister library partnership",
                    "Out of office",
                ]
            )
            charset = "utf-8"
            sender = _address(person, email)
        headers = [("Auto-Submitted", "auto-replied")]
        if rng.random() < 0.5:
            headers.append(("X-Auto-Response-Suppress", "All"))
        if rng.random() < 0.3:
            headers.append(("Precedence", "auto_reply"))
        cte = "base64" if charset == "gb18030" else "qp"
        return self._finish(
            _text(body, "plain", charset, cte), sender, subject, charset, headers=headers
        )

    # -- misc ---------------------------------------------------------------------------------
    def misc(self) -> bytes:
        rng = self.rng
        pick = rng.randrange(4)
        if pick == 0:  # HTML-only newsletter-ish mail
            body = (
                "<!DOCTYPE html><html><head><style>p{margin:0}</style></head><body>"
                "<table width='600'><tr><td><h1>Library news</h1><p>Dear partners,</p>"
                "<p>Our autumn reading festival drew <b>1,200</b> visitors. Thank you for the "
                "books you sent!</p><p><a href='https://example.org/news'>Read more</a></p>"
                "</td></tr></table></body></html>"
            )
            return self._finish(
                _text(body, "html", "utf-8"),
                f"Library News <news{self.n}@newsletter.example.com>",
                "Library news: autumn festival",
            )
        if pick == 1:  # windows-1252 with smart quotes
            body = (
                "Hello,\n\nWe received the “Welcome pack” – thank you! Our café corner now has "
                "a shelf for your library’s books.\n\nRegards,\nJosé Müller\n"
            )
            return self._finish(
                _text(body, "plain", "windows-1252"),
                _address("José Müller", f"jose{self.n}@biblioteca.example.es", "windows-1252"),
                "Thanks – pack received",
                "windows-1252",
            )
        if pick == 2:  # Big5 (Taiwan, Hong Kong)
            body = (
                "您好：\n\n本館是臺北市立圖書館分館，希望參加姐妹圖書館計畫。\n"
                "圖書館名稱：臺北市立圖書館文山分館\n國家：臺灣\n城市：臺北\n\n謝謝！\n"
            )
            return self._finish(
                _text(body, "plain", "big5", "base64"),
                _address("林美華", f"lin{self.n}@tpml.example.tw", "big5"),
                "姐妹圖書館計畫詢問",
                "big5",
            )
        body = (  # ISO-2022-JP
            "姉妹図書館プログラムの担当者様\n\n京都府立図書館の山田です。"
            "プログラムへの参加について詳しく教えていただけますか。\n\nよろしくお願いいたします。\n"
        )
        return self._finish(
            _text(body, "plain", "iso-2022-jp"),
            _address("山田太郎", f"yamada{self.n}@library.example.jp", "iso-2022-jp"),
            "姉妹図書館プログラムについて",
            "iso-2022-jp",
        )


def kinds_for(n: int, seed: int = 42) -> list[str]:
    """Exactly the MIX proportions (rounded), in a seeded random order."""
    kinds: list[str] = []
    for kind, share in MIX:
        kinds += [kind] * round(n * share)
    kinds = (kinds + ["application"] * n)[:n]
    random.Random(seed).shuffle(kinds)
    return kinds


def corpus(n: int, seed: int = 42) -> list[bytes]:
    builder = _Builder(seed)
    return [getattr(builder, kind)() for kind in kinds_for(n, seed)]


_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<([^>]*)>", re.I | re.M)


def message_id(raw: bytes) -> str:
    """The Message-ID without angle brackets, as mailflow stores it."""
    match = _MESSAGE_ID.search(raw)
    assert match, "every corpus message has a Message-ID"
    return match.group(1).decode()


if __name__ == "__main__":  # python bench/corpus.py [N] [DIR]: write the corpus as .eml files
    import sys
    from pathlib import Path

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("bench/out/corpus")
    out.mkdir(parents=True, exist_ok=True)
    for i, (kind, raw) in enumerate(zip(kinds_for(count), corpus(count), strict=True)):
        (out / f"{i:05d}-{kind}.eml").write_bytes(raw)
    print(f"wrote {count} messages to {out}")
