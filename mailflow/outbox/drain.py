"""Send due outbox rows, retry temporary failures with backoff, give up loudly on permanent ones.

How a row is never sent twice, and what a crash can do:

1. Claim (one statement, one short transaction): due pending rows, oldest first, are leased by
   moving their `next_attempt_at` to now + `lease_seconds` and naming this worker in
   `claimed_by` ("<hostname>:<pid>"): `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP
   LOCKED) RETURNING ...`. Another drainer sees them as not due, and SKIP LOCKED keeps two
   claims from overlapping; SQLite's BEGIN IMMEDIATE serialises claims. No lock is held while
   talking SMTP.
2. Send each claimed row with its stored bytes (same Message-ID every time), by `senders`
   threads side by side, each with its own SMTP session (the transport's) and its own database
   connection. While the batch is sent, a thread renews the lease of the rows not yet settled
   every third of a lease, so a slow relay never makes a live worker's rows look abandoned,
   and a row whose lease another worker took over (this one stalled past its lease) is
   skipped, not sent a second time.
3. Settle: each sender commits its row's outcome (sent / retry / failed) on its own connection
   before it sends its next row. `sent` is one UPDATE in autocommit on PostgreSQL (one round
   trip, one WAL flush); the senders' commits overlap the others' SMTP transactions.

A crash between 2 and 3 leaves the row pending with its lease; once the lease runs out (a
minute at most, `workers.lease_seconds`) another worker sends it again. That is the only
duplicate possible: at most one mail in flight per sender (`outbox.senders`, so at most that
many per crash), and it carries the SAME bytes and Message-ID, which recipients' clients
collapse. With several senders the rows of a batch leave roughly, not strictly, in id order.

The first row of a batch is sent alone: if the relay is down, one try finds out (one attempt
spent), and the other senders start only once a mail went through.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from mailflow.clock import Clock
from mailflow.log import OUTBOX
from mailflow.outbound.transport import PermanentSendError, TemporarySendError, Transport
from mailflow.outbox.settle import (
    FAILED,
    PENDING,
    SENT,
    Marker,
    OnNotRendered,
    OnPermanentFailure,
    Policy,
    Render,
    backoff,
    not_rendered,
    note,
    settle_failure,
)
from mailflow.outbox.spec import NotRendered
from mailflow.store.claims import Renewing, for_this_worker
from mailflow.store.db import Database
from mailflow.store.locks import worker_id
from mailflow.store.schema import Outbox

__all__ = ["FAILED", "PENDING", "SENT", "DrainReport", "OnPermanentFailure", "backoff", "drain"]


_outbox = Outbox.__table__
_CLAIMED = (
    _outbox.c.id,
    _outbox.c.message_id,
    _outbox.c.sender,
    _outbox.c.recipients,
    _outbox.c.raw,
    _outbox.c.spec,
)


@dataclass(frozen=True)
class DrainReport:
    """What one `drain` call did. `retried` includes rows that raised unexpectedly."""

    sent: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retried + self.failed


@dataclass(frozen=True)
class _Claimed:
    id: int
    message_id: str
    sender: str
    recipients: list[str]
    raw: bytes
    spec: dict[str, Any] | None


def drain(
    db: Database,
    clock: Clock,
    transport: Transport,
    *,
    batch_size: int = 100,
    max_attempts: int = 8,
    base_delay_seconds: float = 60,
    on_permanent_failure: OnPermanentFailure | None = None,
    lease_seconds: float = 60,
    senders: int = 1,
    render: Render | None = None,
    on_not_rendered: OnNotRendered | None = None,
) -> DrainReport:
    """Send every row due now, `batch_size` at a time; never raises for one row's trouble.

    `on_permanent_failure(session, row, exc)` runs inside the transaction that marks the row
    (the caller marks the contact and tells staff there). It is called when a recipient is
    refused for good, even if others got the mail (`exc.delivered`), and when a row runs out
    of attempts. It is not called for a transport that is down: those rows just wait.
    `senders`: threads sending side by side (give the transport as many connections).
    `render(spec, message_id)` makes the bytes of a row queued as a spec; when it cannot, the
    row fails with the reason and `onnot_rendered(session, row, reason)` tells staff, in the
    transaction that fails it. Without `render`, such rows wait (a temporary failure).
    """
    lease = timedelta(seconds=lease_seconds)
    owner = worker_id()
    policy = Policy(
        max_attempts, base_delay_seconds, on_permanent_failure, render, on_not_rendered,
        threading.Lock(),
    )  # fmt: skip
    sent = retried = failed = 0
    while True:
        batch = _claim(db, clock.now(), batch_size, lease, owner)
        if not batch:
            return DrainReport(sent=sent, retried=retried, failed=failed)
        leases = _Leases(db, clock, owner, lease, [r.id for r in batch])
        with Renewing(leases.renew, every=lease_seconds / 3):
            stop, outcomes = _send_batch(
                db, clock, transport, batch, leases, policy, max(1, senders)
            )
        sent += outcomes.count(SENT)
        failed += outcomes.count(FAILED)
        retried += len(outcomes) - outcomes.count(SENT) - outcomes.count(FAILED)
        if stop or len(batch) < batch_size:
            return DrainReport(sent=sent, retried=retried, failed=failed)


class _Leases:
    """The rows of one batch this worker still holds; `renew` extends them, drops lost ones."""

    def __init__(
        self, db: Database, clock: Clock, owner: str, lease: timedelta, ids: list[int]
    ) -> None:
        self.db, self.clock, self.owner, self.lease = db, clock, owner, lease
        self.ids = set(ids)
        self._lock = threading.Lock()

    def settled(self, row_id: int) -> None:
        with self._lock:
            self.ids.discard(row_id)

    def holds(self, row_id: int) -> bool:
        with self._lock:
            return row_id in self.ids

    def renew(self) -> None:
        with self._lock:
            ids = list(self.ids)
        if not ids:
            return
        with self.db.engine.begin() as conn:
            kept = conn.execute(
                update(_outbox)
                .where(
                    _outbox.c.id.in_(ids),
                    _outbox.c.status == PENDING,
                    _outbox.c.claimed_by == self.owner,
                )
                .values(next_attempt_at=self.clock.now() + self.lease)
                .returning(_outbox.c.id)
            ).scalars()
            kept_ids = set(kept)
        with self._lock:
            # Rows settled meanwhile are no longer ours to renew, and not lost either.
            lost = (set(ids) - kept_ids) & self.ids
            if lost:
                OUTBOX.warning("outbox: lease lost on %s row(s); another worker has them", lost)
            self.ids -= lost


class _Batch:
    """The rows of one claim, handed out to the senders one at a time."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        transport: Transport,
        rows: list[_Claimed],
        leases: _Leases,
        policy: Policy,
    ) -> None:
        self.db, self.clock, self.transport = db, clock, transport
        self.todo = deque(rows)  # popleft is atomic: no lock needed between the senders
        self.leases, self.policy = leases, policy
        self.outcomes: list[str] = []  # append is atomic too
        self.down = threading.Event()  # the relay is unreachable: stop sending
        self.crashed: list[BaseException] = []

    def work(self, marker: Marker, until_sent: bool = False) -> None:
        """Send rows until none are left, the relay is down, or (until_sent) one went out."""
        while not self.down.is_set() and not self.crashed:
            try:
                row = self.todo.popleft()
            except IndexError:
                return
            if not self.leases.holds(row.id):
                continue  # another worker took it over after our lease ran out: theirs now
            try:
                outcome = _send_one(self.db, self.clock, self.transport, row, self.policy, marker)
            finally:
                self.leases.settled(row.id)
            self.outcomes.append(outcome)
            if outcome == "down":
                self.down.set()  # one try per run is enough to find out
                return
            if until_sent and outcome == SENT:
                return

    def sender(self) -> None:
        """A sender thread: its own marker; anything it raises goes to the caller."""
        marker = Marker(self.db)
        try:
            self.work(marker)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the drainer's thread
            self.crashed.append(exc)
        finally:
            marker.close()


def _send_batch(
    db: Database,
    clock: Clock,
    transport: Transport,
    rows: list[_Claimed],
    leases: _Leases,
    policy: Policy,
    senders: int,
) -> tuple[bool, list[str]]:
    """Send the batch; (stop: the relay is down, outcomes of the rows tried)."""
    batch = _Batch(db, clock, transport, rows, leases, policy)
    marker = Marker(db)
    try:
        # Alone until one mail went through, so a relay that is down costs one attempt.
        batch.work(marker, until_sent=senders > 1)
        if senders > 1 and batch.todo and not batch.down.is_set():
            threads = [
                threading.Thread(target=batch.sender, name=f"outbox-sender-{n}", daemon=True)
                for n in range(1, min(senders, len(batch.todo) + 1))
            ]
            for thread in threads:
                thread.start()
            try:
                batch.work(marker)
            except BaseException as exc:
                batch.crashed.append(exc)  # the senders stop after their mail in flight
                raise
            finally:
                for thread in threads:
                    thread.join()
            if batch.crashed:
                raise batch.crashed[0]
    finally:
        marker.close()
    if batch.down.is_set():
        rest = list(batch.todo)
        for other in rest:
            leases.settled(other.id)
        _release(db, rest, clock.now() + timedelta(seconds=policy.base_delay_seconds))
        return True, batch.outcomes
    return False, batch.outcomes


def _claim(db: Database, now: datetime, limit: int, lease: timedelta, owner: str) -> list[_Claimed]:
    """Lease the next due rows in one statement: the select (SKIP LOCKED) inside the update."""
    ready = select(_outbox.c.id).where(
        _outbox.c.status == PENDING, _outbox.c.next_attempt_at <= now
    )
    ready = for_this_worker(ready.order_by(_outbox.c.id), limit, db.is_sqlite)
    with db.engine.begin() as conn:
        rows = conn.execute(
            update(_outbox)
            .where(_outbox.c.id.in_(ready))
            .values(next_attempt_at=now + lease, claimed_by=owner)
            .returning(*_CLAIMED)
        ).all()
    # RETURNING keeps no order: oldest first, as claimed.
    return sorted((_Claimed(*r) for r in rows), key=lambda r: r.id)


def _release(db: Database, rows: Sequence[_Claimed], due: datetime) -> None:
    if not rows:
        return
    with db.unit_of_work() as session:
        session.execute(
            update(Outbox)
            .where(Outbox.id.in_([r.id for r in rows]), Outbox.status == PENDING)
            .values(next_attempt_at=due, claimed_by=None)
            .execution_options(synchronize_session=False)
        )


def _send_one(
    db: Database,
    clock: Clock,
    transport: Transport,
    row: _Claimed,
    policy: Policy,
    marker: Marker,
) -> str:
    """Send and settle one row; returns sent, failed, retry or down (relay unreachable)."""
    try:
        raw, composed = row.raw, None
        if not raw and row.spec is not None:
            if policy.render is None:
                exc = TemporarySendError("queued to be rendered, and this drainer has no templates")
                return settle_failure(db, clock, row.id, exc, policy, None)
            try:
                composed = policy.render(row.spec, row.message_id)
            except NotRendered as failure:
                OUTBOX.error("outbox #%s %s not rendered: %s", row.id, row.message_id, failure)
                return not_rendered(db, clock, row.id, str(failure), policy)
            raw = composed.raw
        try:
            transport.send(row.sender, row.recipients, raw)
        except TemporarySendError as exc:
            OUTBOX.warning("outbox #%s %s deferred: %s", row.id, row.message_id, exc)
            outcome = settle_failure(db, clock, row.id, exc, policy, composed)
            return "down" if exc.connection and outcome != FAILED else outcome
        except PermanentSendError as exc:
            OUTBOX.warning("outbox #%s %s refused: %s", row.id, row.message_id, exc)
            return settle_failure(db, clock, row.id, exc, policy, composed)
        except Exception as exc:
            # Whether it went out is unknown; retrying the same bytes is the safe side.
            OUTBOX.exception("outbox #%s %s: transport raised", row.id, row.message_id)
            unexpected = TemporarySendError(f"unexpected {type(exc).__name__}: {exc}")
            return settle_failure(db, clock, row.id, unexpected, policy, composed)
        # Committed before this sender's next mail: a crash resends at most this one.
        marker.sent(row.id, clock.now(), composed)
        OUTBOX.info("outbox #%s %s sent to %s", row.id, row.message_id, len(row.recipients))
        return SENT
    except Exception:
        # The database (or a callback) failed while settling. The lease keeps the row from
        # being resent until it expires; note what happened if we still can, then move on.
        OUTBOX.exception("outbox #%s %s: could not record the outcome", row.id, row.message_id)
        note(db, row.id, "settling failed: " + traceback.format_exc(limit=3)[-1500:])
        return "retry"
