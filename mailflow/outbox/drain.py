"""Send due outbox rows, retry temporary failures with backoff, give up loudly on permanent ones.

How a row is never sent twice, and what a crash can do:

1. Claim (one short transaction): due pending rows, oldest first, are leased by moving their
   `next_attempt_at` to now + `lease_seconds` and naming this worker in `claimed_by`
   ("<hostname>:<pid>"). Another drainer sees them as not due, and on PostgreSQL
   `FOR UPDATE SKIP LOCKED` keeps two claims from overlapping; SQLite's BEGIN IMMEDIATE
   serialises claims. No lock is held while talking SMTP.
2. Send each claimed row with its stored bytes (same Message-ID every time). While the batch
   is sent, a thread renews the lease of the rows not yet settled every third of a lease, so
   a slow relay never makes a live worker's rows look abandoned, and a row whose lease another
   worker took over (this one stalled past its lease) is skipped, not sent a second time.
3. Settle (one transaction per row, committed before the next send): sent / retry / failed.

A crash between 2 and 3 leaves the row pending with its lease; once the lease runs out (a
minute at most, `workers.lease_seconds`) another worker sends it again. That is the only
duplicate possible, at most the one mail in flight, and it carries the SAME bytes and
Message-ID, which recipients' clients collapse.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.log import OUTBOX
from mailflow.outbound.transport import PermanentSendError, TemporarySendError, Transport
from mailflow.store.claims import Renewing, for_this_worker
from mailflow.store.db import Database
from mailflow.store.locks import worker_id
from mailflow.store.schema import Outbox

PENDING, SENT, FAILED = "pending", "sent", "failed"
MAX_DELAY = timedelta(hours=6)

_outbox = Outbox.__table__
_MARK_SENT = (
    update(_outbox)
    .where(_outbox.c.id == bindparam("row_id"))
    .values(
        status=SENT, sent_at=bindparam("when"), attempts=_outbox.c.attempts + 1, claimed_by=None
    )
)

OnPermanentFailure = Callable[[Session, Outbox, PermanentSendError], None]


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


def backoff(attempts: int, base_delay_seconds: float) -> timedelta:
    """Delay after the `attempts`-th failed try: base, 2*base, 4*base... at most 6 hours."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 * base is far past the cap already
    return min(timedelta(seconds=base_delay_seconds * 2**exponent), MAX_DELAY)


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
) -> DrainReport:
    """Send every row due now, `batch_size` at a time; never raises for one row's trouble.

    `on_permanent_failure(session, row, exc)` runs inside the transaction that marks the row
    (the caller marks the contact and tells staff there). It is called when a recipient is
    refused for good, even if others got the mail (`exc.delivered`), and when a row runs out
    of attempts. It is not called for a transport that is down: those rows just wait.
    """
    lease = timedelta(seconds=lease_seconds)
    owner = worker_id()
    sent = retried = failed = 0
    while True:
        batch = _claim(db, clock.now(), batch_size, lease, owner)
        if not batch:
            return DrainReport(sent=sent, retried=retried, failed=failed)
        leases = _Leases(db, clock, owner, lease, [r.id for r in batch])
        with Renewing(leases.renew, every=lease_seconds / 3):
            stop, outcomes = _send_batch(
                db, clock, transport, batch, leases, max_attempts, base_delay_seconds,
                on_permanent_failure,
            )  # fmt: skip
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


def _send_batch(
    db: Database,
    clock: Clock,
    transport: Transport,
    batch: list[_Claimed],
    leases: _Leases,
    max_attempts: int,
    base_delay_seconds: float,
    on_permanent_failure: OnPermanentFailure | None,
) -> tuple[bool, list[str]]:
    """Send the batch in order; (stop: the relay is down, outcomes of the rows tried)."""
    outcomes: list[str] = []
    for i, row in enumerate(batch):
        if not leases.holds(row.id):
            continue  # another worker took it over after our lease ran out: theirs now
        try:
            outcome = _send_one(
                db, clock, transport, row, max_attempts, base_delay_seconds, on_permanent_failure
            )
        finally:
            leases.settled(row.id)
        outcomes.append(outcome)
        if outcome == "down":
            # The relay is unreachable: one try per run is enough to find out.
            rest = batch[i + 1 :]
            for other in rest:
                leases.settled(other.id)
            _release(db, rest, clock.now() + timedelta(seconds=base_delay_seconds))
            return True, outcomes
    return False, outcomes


def _claim(db: Database, now: datetime, limit: int, lease: timedelta, owner: str) -> list[_Claimed]:
    with db.unit_of_work() as session:
        query = (
            select(Outbox.id, Outbox.message_id, Outbox.sender, Outbox.recipients, Outbox.raw)
            .where(Outbox.status == PENDING, Outbox.next_attempt_at <= now)
            .order_by(Outbox.id)
        )
        rows = [_Claimed(*r) for r in session.execute(for_this_worker(query, limit, db.is_sqlite))]
        if rows:
            session.execute(
                update(Outbox)
                .where(Outbox.id.in_([r.id for r in rows]))
                .values(next_attempt_at=now + lease, claimed_by=owner)
                .execution_options(synchronize_session=False)
            )
    return rows


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
    max_attempts: int,
    base_delay_seconds: float,
    on_permanent_failure: OnPermanentFailure | None,
) -> str:
    """Send and settle one row; returns sent, failed, retry or down (relay unreachable)."""
    try:
        try:
            transport.send(row.sender, row.recipients, row.raw)
        except TemporarySendError as exc:
            OUTBOX.warning("outbox #%s %s deferred: %s", row.id, row.message_id, exc)
            outcome = _settle_failure(
                db, clock, row.id, exc, max_attempts, base_delay_seconds, on_permanent_failure
            )
            return "down" if exc.connection and outcome != FAILED else outcome
        except PermanentSendError as exc:
            OUTBOX.warning("outbox #%s %s refused: %s", row.id, row.message_id, exc)
            return _settle_failure(
                db, clock, row.id, exc, max_attempts, base_delay_seconds, on_permanent_failure
            )
        except Exception as exc:
            # Whether it went out is unknown; retrying the same bytes is the safe side.
            OUTBOX.exception("outbox #%s %s: transport raised", row.id, row.message_id)
            unexpected = TemporarySendError(f"unexpected {type(exc).__name__}: {exc}")
            return _settle_failure(
                db,
                clock,
                row.id,
                unexpected,
                max_attempts,
                base_delay_seconds,
                on_permanent_failure,
            )
        # Core rather than a Session: this runs once per mail and is most of the drainer's
        # own cost. Still one transaction per row, committed before the next send.
        with db.engine.begin() as conn:
            conn.execute(_MARK_SENT, {"row_id": row.id, "when": clock.now()})
        OUTBOX.info("outbox #%s %s sent to %s", row.id, row.message_id, len(row.recipients))
        return SENT
    except Exception:
        # The database (or a callback) failed while settling. The lease keeps the row from
        # being resent until it expires; note what happened if we still can, then move on.
        OUTBOX.exception("outbox #%s %s: could not record the outcome", row.id, row.message_id)
        _note(db, row.id, "settling failed: " + traceback.format_exc(limit=3)[-1500:])
        return "retry"


def _settle_failure(
    db: Database,
    clock: Clock,
    row_id: int,
    exc: TemporarySendError | PermanentSendError,
    max_attempts: int,
    base_delay_seconds: float,
    on_permanent_failure: OnPermanentFailure | None,
) -> str:
    now = clock.now()
    with db.unit_of_work() as session:
        row = session.get(Outbox, row_id)
        if row is None:
            return FAILED  # deleted under us; nothing left to send
        row.attempts += 1
        row.claimed_by = None  # settled: a renewal must not stretch its retry time
        row.last_error = f"{type(exc).__name__}: {exc}"[:4000]
        refused = exc if isinstance(exc, PermanentSendError) else None
        # Recipients still owed the mail; those who got it (exc.delivered) are never resent to.
        if refused is not None:
            owed = list(refused.deferred)
        else:
            owed = list(exc.recipients) or list(row.recipients)
        if owed and row.attempts >= max_attempts:
            refused = PermanentSendError(
                f"gave up after {row.attempts} attempts: {exc}",
                code=exc.code,
                recipients=[*(refused.recipients if refused else ()), *owed],
                delivered=exc.delivered,
            )
            row.last_error = str(refused)[:4000]
            owed = []
        if owed:
            row.recipients = owed
            row.next_attempt_at = now + backoff(row.attempts, base_delay_seconds)
            outcome = "retry"
        elif exc.delivered:
            row.status, row.sent_at = SENT, now  # partial delivery: reached some, not all
            outcome = SENT
        else:
            row.status = FAILED
            outcome = FAILED
        if refused is not None and on_permanent_failure is not None:
            on_permanent_failure(session, row, refused)
        return outcome


def _note(db: Database, row_id: int, message: str) -> None:
    try:
        with db.unit_of_work() as session:
            session.execute(
                update(Outbox)
                .where(Outbox.id == row_id)
                .values(last_error=message)
                .execution_options(synchronize_session=False)
            )
    except Exception:
        OUTBOX.exception("outbox #%s: could not record the error either", row_id)
