"""The workers table: each `mailflow run` process says every few seconds that it is alive.

A row whose last_seen is older than a few heartbeats belongs to a process that died without a
clean stop (SIGKILL, a lost machine); `mailflow status` shows it as stale. Times are wall-clock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.orm import Session

from mailflow.store.schema import Worker


def stale_after_seconds(heartbeat_seconds: float) -> float:
    """A row not written for this long is stale: three heartbeats, and at least 30 seconds,
    because on SQLite a heartbeat waits while a long batch holds the write lock."""
    return max(3 * heartbeat_seconds, 30.0)


def heartbeat(
    session: Session,
    name: str,
    *,
    roles: str,
    started_at: datetime,
    now: datetime,
    imap_mailbox: str | None = None,
    imap_contact_at: datetime | None = None,
) -> None:
    """Insert or refresh this worker's row (only this process writes it: no race to settle)."""
    row = session.get(Worker, name)
    if row is None:
        row = Worker(name=name, roles=roles, started_at=started_at)
        session.add(row)
    row.roles = roles
    row.last_seen = now
    row.imap_mailbox = imap_mailbox
    row.imap_contact_at = imap_contact_at


def remove(session: Session, name: str) -> None:
    session.execute(delete(Worker).where(Worker.name == name))


def forget_stale(session: Session, seen_before: datetime) -> int:
    """Drop rows of processes gone since before `seen_before` (killed, or a restored backup's)."""
    result = session.execute(delete(Worker).where(Worker.last_seen < seen_before))
    return int(getattr(result, "rowcount", 0) or 0)
