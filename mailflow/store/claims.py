"""One claim runner for every queue table: the inbox, the timers and the outbox.

A claim takes ready rows oldest first. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several
workers each take their own rows; SQLite serialises writers (BEGIN IMMEDIATE) so one claim
never overlaps another. `run_claimed` handles each claimed row in its own savepoint inside the
batch's transaction, so one row that raises is rolled back and handed to `fail` (which
dead-letters it) while the others commit. The outbox claims with a lease instead and sends
outside any transaction (outbox/drain.py), through the same `claim`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.store.db import Database

Row = TypeVar("Row")


def for_this_worker(query: Select[Any], limit: int, is_sqlite: bool) -> Select[Any]:
    """The first `limit` ready rows that no other worker holds (PostgreSQL: SKIP LOCKED)."""
    query = query.limit(limit)
    return query if is_sqlite else query.with_for_update(skip_locked=True)


def claim(session: Session, query: Select[Any], limit: int, is_sqlite: bool) -> list[Any]:
    """Ready rows (entities) for this worker only."""
    return list(session.scalars(for_this_worker(query, limit, is_sqlite)))


@dataclass
class ClaimCounts:
    done: int = 0
    failed: int = 0


def run_claimed(
    db: Database,
    clock: Clock,
    ready: Callable[[datetime], Select[Any]],
    handle: Callable[[Session, Any, datetime], None],
    fail: Callable[[Session, Any, datetime, Exception], None],
    batch_size: int = 200,
    before: Callable[[Any], None] | None = None,
) -> ClaimCounts:
    """Every ready row, a batch per transaction, each row in its own savepoint.

    `before(row)` runs outside the row's savepoint (an attempt counter that a failure keeps).
    """
    counts = ClaimCounts()
    while True:
        now = clock.now()
        with db.unit_of_work() as session:
            rows = claim(session, ready(now), batch_size, db.is_sqlite)
            for row in rows:
                if before is not None:
                    before(row)
                try:
                    with session.begin_nested():
                        handle(session, row, now)
                    counts.done += 1
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    with session.begin_nested():
                        fail(session, row, now, exc)
                    counts.failed += 1
        if len(rows) < batch_size:
            return counts
