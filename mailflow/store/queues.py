"""Queues are tables: the inbox (raw mail waiting to be processed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.log import INBOUND
from mailflow.store.schema import NEW, InboxMessage


@dataclass(frozen=True)
class RawMail:
    raw: bytes
    sha256: str  # content hash without relay trace headers
    message_id: str | None
    source: str
    mailbox: str
    uidvalidity: int | None = None
    uid: int | None = None
    envelope_from: str | None = None
    envelope_to: tuple[str, ...] = ()


def _insert(session: Session, mail: RawMail, now: datetime) -> InboxMessage:
    row = InboxMessage(
        source=mail.source,
        mailbox=mail.mailbox,
        uidvalidity=mail.uidvalidity,
        uid=mail.uid,
        message_id=mail.message_id,
        sha256=mail.sha256,
        size=len(mail.raw),
        raw=mail.raw,
        envelope_from=mail.envelope_from,
        envelope_to=list(mail.envelope_to) or None,
        received_at=now,
        status=NEW,
        attempts=0,
    )
    session.add(row)
    return row


def _duplicate(row: InboxMessage, mail: RawMail) -> None:
    INBOUND.info(
        "duplicate of inbox #%s (Message-ID %s) from %s", row.id, row.message_id, mail.source
    )
    if mail.uid is not None:
        # A duplicate seen over IMAP takes the new location, so the mover can still find it.
        row.mailbox, row.uidvalidity, row.uid = mail.mailbox, mail.uidvalidity, mail.uid


def add_inbox(session: Session, mail: RawMail, now: datetime) -> tuple[InboxMessage, bool]:
    """Add raw mail unless it is already stored; returns (row, created).

    Already stored means: the same mailbox/UIDVALIDITY/UID, or the same content hash
    (a re-scan after a UIDVALIDITY change, an LMTP retry, the same mail by two routes).
    """
    if mail.uid is not None:
        row = session.scalar(
            select(InboxMessage).where(
                InboxMessage.mailbox == mail.mailbox,
                InboxMessage.uidvalidity == mail.uidvalidity,
                InboxMessage.uid == mail.uid,
            )
        )
        if row is not None:
            return row, False
    row = session.scalar(select(InboxMessage).where(InboxMessage.sha256 == mail.sha256))
    if row is not None:
        _duplicate(row, mail)
        return row, False
    row = _insert(session, mail, now)
    session.flush()
    INBOUND.debug("stored inbox #%s (Message-ID %s) from %s", row.id, mail.message_id, mail.source)
    return row, True


def add_inbox_batch(session: Session, mails: Sequence[RawMail], now: datetime) -> int:
    """add_inbox for one IMAP FETCH batch (one mailbox): two lookups for the batch, not per mail."""
    if not mails:
        return 0
    first = mails[0]
    seen_uids = set(
        session.scalars(
            select(InboxMessage.uid).where(
                InboxMessage.mailbox == first.mailbox,
                InboxMessage.uidvalidity == first.uidvalidity,
                InboxMessage.uid.in_([m.uid for m in mails]),
            )
        )
    )
    by_hash = {
        r.sha256: r
        for r in session.scalars(
            select(InboxMessage).where(InboxMessage.sha256.in_({m.sha256 for m in mails}))
        )
    }
    created = 0
    for mail in mails:
        if mail.uid in seen_uids:
            continue
        existing = by_hash.get(mail.sha256)
        if existing is not None:
            _duplicate(existing, mail)
            continue
        by_hash[mail.sha256] = _insert(
            session, mail, now
        )  # a second copy in this batch is a duplicate
        created += 1
    return created
