"""How real mail clients shape a reply: quote headers, quoting, signatures, charsets.

Used by `mailflow demo` to answer as libraries do, and by the tests for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, make_msgid, parseaddr

CLIENTS = ("gmail", "outlook", "apple", "thunderbird", "qq", "163")


def reply_bytes(
    *,
    original: EmailMessage,
    original_text: str,
    sender: str,
    body: str,
    date: datetime,
    client: str = "gmail",
    to: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """A reply to `original` from `sender`, quoting it the way `client` does."""
    msg = EmailMessage()
    subject = str(original["Subject"])
    msg["From"] = sender
    msg["To"] = to or str(original["Reply-To"] or original["From"])
    msg["Subject"] = ("回复：" if client in ("qq", "163") else "Re: ") + subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].split("@")[-1] or "client.example")
    msg["In-Reply-To"] = original["Message-ID"]
    msg["References"] = " ".join(
        filter(None, [str(original.get("References", "")), str(original["Message-ID"])])
    )
    for name, value in extra_headers:
        msg[name] = value
    quoted = original_text.splitlines()
    who = str(original["From"])
    when = date.strftime("%a, %d %b %Y at %H:%M")
    if client == "gmail":
        text = body + f"\n\nOn {when}, {who} wrote:\n" + "\n".join("> " + q for q in quoted)
        html = (f'<div dir="ltr">{body}</div><br><div class="gmail_quote">On {when}, {who} wrote:<br>'
                f'<blockquote class="gmail_quote">{original_text[:500]}</blockquote></div>')  # fmt: skip
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
    elif client == "outlook":
        text = (body + "\n\n________________________________\n" + f"From: {who}\nSent: {date:%A, %B %d, %Y %I:%M %p}\n"
                + f"To: {sender}\nSubject: {subject}\n\n" + original_text)  # fmt: skip
        msg["X-Mailer"] = "Microsoft Outlook 16.0"
        msg["Thread-Topic"] = subject
        msg.set_content(text)
    elif client == "apple":
        text = (
            body
            + f"\n\nSent from my iPhone\n\n> On {date:%d %b %Y}, at {date:%H:%M}, {who} wrote:\n"
            + "\n".join("> " + q for q in quoted)
        )
        msg["X-Mailer"] = "iPhone Mail (20A362)"
        msg.set_content(text)
    elif client == "thunderbird":
        text = (
            body
            + f"\n\nOn {date:%m/%d/%y %I:%M %p}, {who} wrote:\n"
            + "\n".join("> " + q for q in quoted)
        )
        msg["User-Agent"] = "Mozilla/5.0 Thunderbird/128.4.0"
        msg.set_content(text)
    elif client in ("qq", "163"):
        if client == "qq":
            head = ("\n\n\n------------------&nbsp;原始邮件&nbsp;------------------\n" + f'发件人: "{who}"\n'
                    + f"发送时间: {date:%Y年%m月%d日} 上午{date:%H:%M}\n" + f'收件人: "{sender}"\n' + f"主题: {subject}\n\n")  # fmt: skip
            msg["X-Mailer"] = "QQMail 2.x"
        else:
            head = f"\n\n在 {date:%Y-%m-%d %H:%M:%S}，{who} 写道：\n"
            msg["X-Mailer"] = "Coremail Webmail Server Version XT5.0.13"
        msg.set_content(body + head + "\n".join(("> " + q) if client == "163" else q for q in quoted),
                        charset="gb18030", cte="base64")  # fmt: skip
    else:
        raise ValueError(f"unknown client {client!r}")
    # An internationalised address (RFC 6531) goes as UTF-8 headers, as such a client sends it.
    return msg.as_bytes(policy=SMTP if sender.isascii() else SMTPUTF8)


def new_mail(*, sender: str, to: str, subject: str, body: str, date: datetime,
             headers: Sequence[tuple[str, str]] = ()) -> bytes:  # fmt: skip
    """A first mail (an application), as a client would send it."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].split("@")[-1] or "client.example")
    for name, value in headers:
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)
