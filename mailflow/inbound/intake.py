"""Store raw mail idempotently. Adapters call this and decide nothing else."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailflow.store import queues
from mailflow.store.schema import InboxMessage

# Headers a relay adds on the way in; the same message fetched over IMAP and delivered over
# LMTP differs only in these, so they are left out of the content hash.
_TRACE = frozenset(
    {b"received", b"return-path", b"delivered-to", b"x-original-to", b"x-delivered-to"}
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


@dataclass(frozen=True)
class Incoming:
    raw: bytes
    source: str  # imap | lmtp | smtp | file
    mailbox: str
    uidvalidity: int | None = None
    uid: int | None = None
    envelope_from: str | None = None
    envelope_to: tuple[str, ...] = ()


def split_header(raw: bytes) -> tuple[bytes, bytes]:
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def content_hash(raw: bytes) -> str:
    """sha256 over the message without trace headers, line endings normalised to LF."""
    head, body = split_header(raw)
    digest = hashlib.sha256()
    keep = True
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if keep:
                digest.update(line + b"\n")
            continue
        name = line.split(b":", 1)[0].strip().lower()
        keep = name not in _TRACE
        if keep:
            digest.update(line + b"\n")
    digest.update(b"\n")
    # Trailing blank lines differ between relays (and the SMTP dot-terminator); not content.
    digest.update(body.replace(b"\r\n", b"\n").rstrip(b"\n"))
    return digest.hexdigest()


def message_id_of(raw: bytes) -> str | None:
    head, _ = split_header(raw)
    match = _MESSAGE_ID.search(head)
    if not match:
        return None
    value = re.sub(rb"\s+", b"", match.group(1)).strip(b"<>")
    # A lookup key, not the record (the raw bytes are): UTF-8 ids (RFC 6532) kept readable,
    # NUL and other controls dropped, as PostgreSQL refuses NUL and the sender would get 451
    # for ever.
    text = value.decode("utf-8", "replace")
    return _CONTROLS.sub("", text)[:998] or None


def _printable(value: str | None) -> str | None:
    return _CONTROLS.sub("", value) if value is not None else None


def raw_mail(incoming: Incoming) -> queues.RawMail:
    return queues.RawMail(
        raw=incoming.raw,
        sha256=content_hash(incoming.raw),
        message_id=message_id_of(incoming.raw),
        source=incoming.source,
        mailbox=incoming.mailbox,
        uidvalidity=incoming.uidvalidity,
        uid=incoming.uid,
        envelope_from=_printable(incoming.envelope_from),
        envelope_to=tuple(a for a in map(_printable, incoming.envelope_to) if a),
    )


def store(session: Session, incoming: Incoming, now: datetime) -> tuple[InboxMessage, bool]:
    """Add the message unless it is already stored; returns (row, created)."""
    return queues.add_inbox(session, raw_mail(incoming), now)


def store_batch(session: Session, batch: Sequence[Incoming], now: datetime) -> int:
    """Store one IMAP FETCH batch; returns how many were new."""
    return queues.add_inbox_batch(session, [raw_mail(i) for i in batch], now)
