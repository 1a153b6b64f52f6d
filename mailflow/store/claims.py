"""Claims on the queue tables: the timers' runner, the outbox's claim, and lease renewal.

(The inbox has its own claim, store/inbox_claims.py: an attempt committed before any work.)
A claim takes ready rows oldest first. On PostgreSQL `FOR UPDATE SKIP LOCKED` lets several
workers each take their own rows; SQLite serialises writers (BEGIN IMMEDIATE) so one claim
never overlaps another. `run_claimed` handles each claimed row in its own savepoint inside the
batch's transaction, so one row that raises is rolled back and handed to `fail` (which
dead-letters it) while the others commit. The outbox claims with a lease instead and sends
outside any transaction (outbox/drain.py), through the same `for_this_worker` select; `Renewing` keeps a lease
alive while the work runs, so a short lease (a dead worker's rows return within it) never
runs out under a live one.

A row whose savepoint fails because another worker got there first (a deadlock between two
batches' row locks, a unique key inserted at the same moment: `locks.is_contention`) is not a
dead letter: it is rolled back and left for the next pass, which sees the other's commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.log import DISPATCH
from mailflow.store.db import Database
from mailflow.store.locks import is_contention


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
    deferred: int = 0  # raced another worker: rolled back, taken again on a later pass


# Passes over rows that raced another worker before leaving them to the next tick.
MAX_DEFERRED_PASSES = 5


def run_claimed(
    db: Database,
    clock: Clock,
    ready: Callable[[datetime], Select[Any]],
    handle: Callable[[Session, Any, datetime], None],
    fail: Callable[[Session, Any, datetime, Exception], None],
    batch_size: int = 200,
) -> ClaimCounts:
    """Every ready row, a batch per transaction, each row in its own savepoint."""
    counts = ClaimCounts()
    passes_deferred = 0
    while True:
        now = clock.now()
        deferred = 0
        with db.unit_of_work() as session:
            rows = claim(session, ready(now), batch_size, db.is_sqlite)
            for row in rows:
                try:
                    with session.begin_nested():
                        handle(session, row, now)
                    counts.done += 1
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    if is_contention(exc):
                        # Its savepoint is rolled back (and with it the locks it took); after
                        # this batch commits, the other worker's commit is visible to a retry.
                        DISPATCH.info("row raced another worker; retried next pass: %s", exc)
                        deferred += 1
                        continue
                    with session.begin_nested():
                        fail(session, row, now, exc)
                    counts.failed += 1
        counts.deferred += deferred
        if deferred:
            passes_deferred += 1
            if passes_deferred < MAX_DEFERRED_PASSES:
                continue
        if len(rows) < batch_size:
            return counts


class Renewing:
    """Calls `renew()` every `every` seconds in a thread while the `with` block runs.

    For leases: claim with a short lease, then keep it alive while working, so a live worker
    never loses its rows and a dead one's come back within one lease. `renew` must be cheap
    and must not raise for long (it is logged and tried again).
    """

    def __init__(self, renew: Callable[[], object], every: float) -> None:
        self._renew, self._every = renew, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-renewal", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self._renew()
            except Exception:  # noqa: BLE001 - the next renewal tries again
                DISPATCH.exception("lease renewal failed")

    def __enter__(self) -> Renewing:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
