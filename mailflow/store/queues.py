"""Queues are tables: the inbox (raw mail waiting to be processed) and its claims."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailflow.log import INBOUND
from mailflow.store.schema import NEW, InboxMessage


def add_inbox(
    session: Session,
    *,
    raw: bytes,
    sha256: str,
    message_id: str | None,
    source: str,
    mailbox: str,
    uidvalidity: int | None,
    uid: int | None,
    envelope_from: str | None,
    envelope_to: Sequence[str],
    now: datetime,
) -> tuple[InboxMessage, bool]:
    """Add raw mail unless it is already stored; returns (row, created).

    Already stored means: the same mailbox/UIDVALIDITY/UID, or the same content hash
    (a re-scan after a UIDVALIDITY change, an LMTP retry, the same mail by two routes).
    A duplicate seen over IMAP takes the new location so the mover can still find it.
    """
    if uid is not None:
        row = session.scalar(
            select(InboxMessage).where(
                InboxMessage.mailbox == mailbox,
                InboxMessage.uidvalidity == uidvalidity,
                InboxMessage.uid == uid,
            )
        )
        if row is not None:
            return row, False
    row = session.scalar(select(InboxMessage).where(InboxMessage.sha256 == sha256))
    if row is not None:
        INBOUND.info(
            "duplicate of inbox #%s (Message-ID %s) from %s", row.id, row.message_id, source
        )
        if uid is not None:
            row.mailbox, row.uidvalidity, row.uid = mailbox, uidvalidity, uid
        return row, False
    row = InboxMessage(
        source=source,
        mailbox=mailbox,
        uidvalidity=uidvalidity,
        uid=uid,
        message_id=message_id,
        sha256=sha256,
        size=len(raw),
        raw=raw,
        envelope_from=envelope_from,
        envelope_to=list(envelope_to) or None,
        received_at=now,
        status=NEW,
        attempts=0,
    )
    session.add(row)
    session.flush()
    INBOUND.info("stored inbox #%s (Message-ID %s) from %s", row.id, message_id, source)
    return row, True
