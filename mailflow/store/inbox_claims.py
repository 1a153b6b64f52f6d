"""The inbox's claim: an attempt is counted and committed before any work on a message.

1. `claim_inbox` (one short transaction) takes ready `new` rows oldest first, without their raw
   bytes, up to a byte budget; it counts an attempt on each and leases it to this worker
   (`claimed_by`, `claimed_until`), and commits. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets
   several workers claim side by side; SQLite serialises the claim (BEGIN IMMEDIATE).
2. The worker reads each row's bytes (`load_raws`) and parses them outside any transaction,
   renewing the lease (`renew`) while it works.
3. The dispatch transaction acts only on the rows this worker still holds (`held`).

A message that hangs, fails or kills the process has still used an attempt. A row whose lease
ran out returns to the queue; one that used `max_attempts` attempts is quarantined with its
reason (`on_quarantine` runs in the same transaction), so no message can stop the others.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session, defer

from mailflow.store.claims import for_this_worker
from mailflow.store.db import Database
from mailflow.store.schema import NEW, QUARANTINED, InboxMessage

# Why a row that used its attempts without a recorded failure is quarantined: nothing wrote
# a reason, so the process stopped while handling it.
STOPPED = "the process stopped while handling it (crash, kill or out of memory)"

OnQuarantine = Callable[[Session, InboxMessage, datetime], None]


@dataclass(frozen=True)
class InboxClaim:
    id: int
    size: int
    attempt: int  # this attempt's number, from 1


def _ready(now: datetime) -> Select[Any]:
    return (
        select(InboxMessage)
        .options(defer(InboxMessage.raw))
        .where(
            InboxMessage.status == NEW,
            or_(InboxMessage.claimed_until.is_(None), InboxMessage.claimed_until <= now),
        )
        .order_by(InboxMessage.id)
    )


def quarantine(session: Session, row: InboxMessage, now: datetime, reason: str) -> None:
    row.status, row.processed_at, row.error = QUARANTINED, now, reason[:2000]
    row.claimed_until = row.claimed_by = None


def claim_inbox(
    db: Database,
    now: datetime,
    worker: str,
    *,
    lease: timedelta,
    max_bytes: int,
    max_rows: int,
    max_attempts: int,
    on_quarantine: OnQuarantine | None = None,
    first_only: bool = False,
) -> tuple[list[InboxClaim], int]:
    """(the rows claimed, how many were quarantined instead); at least one row if any is
    ready, then rows while their sizes add up to at most `max_bytes`. A row taken before
    (its attempt never finished) is claimed alone. `first_only`: only rows never taken
    before (a batch claimed ahead of another, whose crash would cost it an attempt)."""
    claimed: list[InboxClaim] = []
    quarantined = 0
    total = 0
    with db.unit_of_work() as session:
        for row in session.scalars(for_this_worker(_ready(now), max_rows, db.is_sqlite)):
            if row.attempts >= max_attempts:
                reason = row.error or STOPPED
                quarantine(
                    session, row, now, f"quarantined after {row.attempts} attempts: {reason}"
                )
                if on_quarantine is not None:
                    on_quarantine(session, row, now)
                quarantined += 1
                continue
            retry = row.attempts > 0  # an attempt that did not finish (crash, past its budget)
            if retry and first_only:
                break
            if claimed and (retry or total + row.size > max_bytes):
                break  # the next batch starts with it
            row.attempts += 1
            row.claimed_until, row.claimed_by = now + lease, worker
            row.error = None  # from now on it says why this attempt failed, if it does
            claimed.append(InboxClaim(row.id, row.size, row.attempts))
            total += row.size
            if retry:
                break  # alone: were it poison, it would use up only its own attempts
    return claimed, quarantined


def load_raws(db: Database, ids: Sequence[int]) -> dict[int, bytes]:
    """The raw bytes of these rows (read when needed, dropped once parsed). A read-only
    transaction: it runs beside the dispatch of the batch before (SQLite: no write lock)."""
    with db.reading() as session:
        rows = session.execute(
            select(InboxMessage.id, InboxMessage.raw).where(InboxMessage.id.in_(ids))
        )
        return {row.id: row.raw for row in rows}


def renew(db: Database, ids: Sequence[int], worker: str, until: datetime) -> None:
    """Extend this worker's lease on the rows it still holds."""
    if not ids:
        return
    with db.unit_of_work() as session:
        session.execute(
            update(InboxMessage)
            .where(
                InboxMessage.id.in_(ids),
                InboxMessage.claimed_by == worker,
                InboxMessage.status == NEW,
            )
            .values(claimed_until=until)
        )


def release_failed(
    db: Database,
    row_id: int,
    worker: str,
    now: datetime,
    reason: str,
    max_attempts: int,
    on_quarantine: OnQuarantine | None = None,
) -> bool:
    """An attempt failed before dispatch (a parse past its time budget, a crashed parser):
    record why and return the row to the queue, or quarantine it when its attempts are used
    up. True if quarantined."""
    with db.unit_of_work() as session:
        row = session.get(InboxMessage, row_id, options=[defer(InboxMessage.raw)])
        if row is None or row.status != NEW or row.claimed_by != worker:
            return False  # the lease ran out and another worker has it
        if row.attempts >= max_attempts:
            quarantine(session, row, now, f"quarantined after {row.attempts} attempts: {reason}")
            if on_quarantine is not None:
                on_quarantine(session, row, now)
            return True
        row.error = reason[:2000]
        row.claimed_until = row.claimed_by = None
        return False


def unclaim(db: Database, ids: Sequence[int], worker: str) -> None:
    """Give rows back untouched (the attempt did not start: no parse worker could be had)."""
    with db.unit_of_work() as session:
        for row in held(session, ids, worker, db.is_sqlite):
            row.attempts = max(0, row.attempts - 1)
            let_go(row)


def held(session: Session, ids: Sequence[int], worker: str, is_sqlite: bool) -> list[InboxMessage]:
    """The claimed rows this worker still holds (locked on PostgreSQL), oldest first."""
    query = (
        select(InboxMessage)
        .options(defer(InboxMessage.raw))
        .where(
            InboxMessage.id.in_(ids),
            InboxMessage.status == NEW,
            InboxMessage.claimed_by == worker,
        )
        .order_by(InboxMessage.id)
    )
    return list(session.scalars(query if is_sqlite else query.with_for_update()))


def let_go(row: InboxMessage) -> None:
    """The row is handled: it holds no claim any more."""
    row.claimed_until = row.claimed_by = None
