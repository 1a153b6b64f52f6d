"""RFC 3464 / RFC 6533 delivery status fields: who failed, how, and whether for good.

Structure only: the per-recipient field blocks of `message/delivery-status` and
`message/global-delivery-status` parts (and, for broken reporters, the same fields written into
a text part). What a report says in prose is read by bouncetext.py.
"""

from __future__ import annotations

import base64
import quopri
import re
from dataclasses import dataclass
from email.message import Message

from mailflow.parse.charsets import unescape_surrogates
from mailflow.parse.clean import MAX_MIME_DEPTH
from mailflow.parse.message import parse_bytes

STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
# An enhanced status code (RFC 3463) standing alone: not a piece of an IP address or version.
STATUS = re.compile(r"(?<![\w.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# A mailbox as written in a report: local part, @, a dotted domain; no spaces, quotes or brackets.
_MAILBOX = re.compile(r"[^\s@<>\"(),;:\[\]\\]+@[^\s@<>\"(),;:\[\]\\]+\.[^\s@<>\"(),;:\[\]\\]+")
_SOURCE_ROUTE = re.compile(r"^(?:@[^:,@]++,?)++:")
# Field blocks are small; anything larger is not a status report (bounds work on hostile mail).
_MAX_STATUS_BYTES = 256 * 1024
_MAX_BLOCKS = 500
# Text parts that carry DSN fields in prose position (seen from old relays).
_FIELDS_IN_TEXT = re.compile(r"^(final|original)-recipient\s*:", re.I | re.M)

_SUCCESS = ("delivered", "relayed", "expanded")


def clean_address(value: str) -> str | None:
    """A lower-case mailbox from a report's address field, or None (X.400, pipes, local names).

    Drops the address type ("rfc822;", "utf-8;"), angle brackets and an RFC 5321
    source route ("<@relay:user@host>").
    """
    value = value.strip()
    if ";" in value:
        # Any type ("rfc822", "utf-8", "unknown", "system"): an X.400 O/R name or a pipe does
        # not read as a mailbox below, whatever type it was given.
        value = value.partition(";")[2]
    value = value.strip().strip("<>").strip()
    value = _SOURCE_ROUTE.sub("", value).strip().strip("<>").rstrip(".").lower()
    if value.startswith(("|", "/")):
        return None  # a pipe or a file the mail was delivered to, not a mailbox
    return value if _MAILBOX.fullmatch(value) else None


@dataclass(frozen=True)
class Recipient:
    """One per-recipient block of a delivery status report."""

    address: str | None  # the original recipient when readable, else the final one
    final: str  # the Final-Recipient field as written (may be X.400, a pipe, a local name)
    action: str  # failed, delayed, delivered, relayed, expanded, expired, ... ("" when absent)
    status: str | None  # "5.1.1"
    diagnostic: str

    @property
    def failed(self) -> bool:
        """Anything but a success is a failure (delayed and expired included)."""
        if self.action.startswith(_SUCCESS):
            return False
        return not (self.status and self.status.startswith("2") and not self.action)

    @property
    def temporary_action(self) -> bool:
        return self.action.startswith("delayed")


def _field(block: Message, name: str) -> str:
    value = block.get(name)
    if value is None:
        return ""
    return re.sub(r"\s+", " ", unescape_surrogates(str(value))).strip()


def _part_bytes(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    return data[:_MAX_STATUS_BYTES] if isinstance(data, bytes) else b""


def _decode(raw: bytes, encoding: str) -> bytes:
    try:
        if encoding == "base64":
            return base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", raw) + b"==")
        if encoding == "quoted-printable":
            return quopri.decodestring(raw)
    except ValueError:
        return b""
    return raw


def _blocks_from_bytes(data: bytes) -> list[Message]:
    chunks = re.split(rb"\r?\n[ \t]*\r?\n", data.strip())
    return [parse_bytes(c.strip() + b"\n") for c in chunks[:_MAX_BLOCKS] if c.strip()]


def report_parts(msg: Message) -> list[Message]:
    """The report's own parts, depth first: never those inside a returned message/rfc822."""
    out: list[Message] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    while stack:
        current, depth = stack.pop()
        out.append(current)
        if current.get_content_maintype() != "multipart" or depth >= MAX_MIME_DEPTH:
            continue
        payload = current.get_payload()
        if isinstance(payload, list):
            stack.extend((sub, depth + 1) for sub in reversed(payload) if isinstance(sub, Message))
    return out


def status_blocks(msg: Message, *, text_fields: bool = False) -> list[Message]:
    """Field blocks of every status part. text_fields: also DSN fields written in a text part."""
    blocks: list[Message] = []
    for part in report_parts(msg):
        ctype = part.get_content_type()
        if ctype in STATUS_TYPES:
            payload = part.get_payload()
            encoded = str(part.get("content-transfer-encoding", "")).strip().lower()
            if not isinstance(payload, list):
                blocks.extend(_blocks_from_bytes(_part_bytes(part)))
            elif ctype == "message/delivery-status" and encoded not in (
                "base64",
                "quoted-printable",
            ):
                blocks.extend(b for b in payload[:_MAX_BLOCKS] if isinstance(b, Message))
            else:
                # The stdlib read the fields before undoing the transfer encoding (base64), or
                # read RFC 6533 fields as one message: serialise back and read them again.
                raw = b"\n".join(
                    b.as_bytes() for b in payload[:_MAX_BLOCKS] if isinstance(b, Message)
                )
                blocks.extend(_blocks_from_bytes(_decode(raw[:_MAX_STATUS_BYTES], encoded)))
        elif text_fields and ctype == "text/plain":
            data = _part_bytes(part)
            text = data.decode("utf-8", "replace")
            if m := _FIELDS_IN_TEXT.search(text):
                # The fields start at the first field line; prose before it is not a block.
                start = text.rfind("\n\n", 0, m.start())
                blocks.extend(_blocks_from_bytes(text[max(start, 0) :].encode()))
    return blocks


def recipients(msg: Message, *, text_fields: bool = False) -> list[Recipient]:
    """The per-recipient blocks (those naming a Final- or Original-Recipient)."""
    found: list[Recipient] = []
    for block in status_blocks(msg, text_fields=text_fields):
        final = _field(block, "final-recipient")
        original = _field(block, "original-recipient")
        if not final and not original:
            continue  # the per-message block (Reporting-MTA, Arrival-Date)
        # RFC 3464 2.3.1: Original-Recipient is the address as the sender gave it; that is the
        # one the sender can act on (an alias, a forward, a list may be final).
        address = clean_address(original) or clean_address(final)
        if address is None:
            actual = _field(block, "x-actual-recipient")  # sendmail's name for the final one
            address = clean_address(actual) if actual else None
        status = STATUS.search(_field(block, "status"))
        found.append(
            Recipient(
                address=address,
                final=final or original,
                action=_field(block, "action").lower(),
                status=status.group(0) if status else None,
                diagnostic=_field(block, "diagnostic-code")[:2000],
            )
        )
    return found
