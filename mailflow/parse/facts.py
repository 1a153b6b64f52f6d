"""The facts parse/ produces from one message: plain values, no I/O, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# kinds, in the order classify() tests them
KINDS = ("bounce", "auto_reply", "command", "reply", "withdrawal", "application", "unknown")


@dataclass(frozen=True)
class Address:
    address: str  # lower-cased addr-spec, "" if absent/unparseable
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int  # decoded payload size in bytes


@dataclass(frozen=True)
class Bounce:
    recipients: tuple[str, ...]  # lower-case addresses that failed
    permanent: bool | None  # True 5.x.x, False 4.x.x, None unknown
    # The Message-IDs (no angle brackets) of the returned mail, as the report quotes them: only
    # these tie a bounce to a mail we sent; anyone can write a report naming any address.
    message_ids: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # enhanced status codes in the report ("5.1.1", "5.7.1")
    spam_verdict: bool = False  # the report says the content was refused as spam or policy


@dataclass(frozen=True)
class DecodedMessage:
    """What MIME decoding yields; input to classification and field extraction."""

    message_id: str | None  # without angle brackets
    from_: Address
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: tuple[str, ...]
    subject: str
    date: datetime | None
    in_reply_to: str | None  # without angle brackets
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # (lower-cased name, decoded value), in order
    text: str  # the main text; HTML-only mail converted to text
    html: str | None
    attachments: tuple[Attachment, ...]
    attachment_texts: tuple[
        tuple[str, str], ...
    ]  # (filename, text) of text/plain and .docx attachments
    defects: tuple[str, ...]
    # The address headers with their decoded display names (`to`, `cc`, `reply_to` above are
    # the same addresses alone, which token and correlation code compare).
    to_addresses: tuple[Address, ...] = ()
    cc_addresses: tuple[Address, ...] = ()
    reply_to_addresses: tuple[Address, ...] = ()
    body_charset: str = ""  # charset label of the main text part as declared, lower-cased

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Facts:
    message_id: str | None
    from_: Address
    to: tuple[str, ...]
    subject: str
    date: datetime | None
    kind: str
    text: str
    reply_text: str
    reply_trimmed: bool  # False when trimming left nothing and the whole text was kept
    language: str | None
    attachments: tuple[Attachment, ...]
    bounce: Bounce | None
    auto_reply: bool
    auto_reply_until: datetime | None
    token: str | None  # verified reply token; None if absent or forged
    token_forged: bool
    in_reply_to: str | None
    references: tuple[str, ...]
    fields: dict[str, str]
    intent: str | None
    command: str | None  # staff verb with its argument, e.g. "note call them"
    defects: tuple[str, ...]
    mailflow_own: bool = False  # carries our own loop-detection header
    extra: dict[str, Any] = field(default_factory=dict)
    to_addresses: tuple[Address, ...] = ()  # `to` with display names
    cc_addresses: tuple[Address, ...] = ()
    reply_to_addresses: tuple[Address, ...] = ()
    body_charset: str = ""  # see DecodedMessage.body_charset

    def to_json(self) -> dict[str, Any]:
        """The `mailflow parse --json` contract (docs/parse.md): exactly these keys, in this order."""
        return {
            "message_id": self.message_id,
            "from": {"address": self.from_.address, "name": self.from_.name},
            "to": _named(self.to_addresses or tuple(Address(a) for a in self.to)),
            "cc": _named(self.cc_addresses),
            "reply_to": _named(self.reply_to_addresses),
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "kind": self.kind,
            "text": self.text,
            "body_charset": self.body_charset,
            "reply_text": self.reply_text,
            "language": self.language,
            "attachments": [asdict(a) for a in self.attachments],
            "bounce": (
                {"recipients": list(self.bounce.recipients), "permanent": self.bounce.permanent}
                if self.bounce
                else None
            ),
            "auto_reply": self.auto_reply,
            "token": self.token,
            "in_reply_to": self.in_reply_to,
            "fields": dict(self.fields),
            "intent": self.intent,
            "defects": list(self.defects),
        }


def _named(addresses: tuple[Address, ...]) -> list[dict[str, str]]:
    return [{"address": a.address, "name": a.name} for a in addresses]
