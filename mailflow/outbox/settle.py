"""How the drainer settles a row: `sent` on the sender's own connection, or a failure.

`Marker` commits `sent` right after the relay accepted the mail (one UPDATE in autocommit on
PostgreSQL), with the bytes a spec row was rendered to. `settle_failure` retries with backoff,
fails a row for good (telling the caller, who marks the contact and tells staff), or counts a
partial delivery as sent; `not_rendered` fails a spec that cannot be rendered. Failures are
settled one at a time (`Policy.lock`): their callbacks change contacts and libraries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, null, update
from sqlalchemy.orm import Session

from mailflow.clock import Clock
from mailflow.log import OUTBOX
from mailflow.outbound.transport import PermanentSendError, TemporarySendError
from mailflow.outbox.spec import Composed
from mailflow.store.db import Database
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
# A row rendered as it is sent keeps its bytes from then on; its spec is no longer needed.
_MARK_SENT_RENDERED = _MARK_SENT.values(
    raw=bindparam("raw"), subject=bindparam("subject"), locale=bindparam("locale"), spec=null()
)

# The same two statements as driver SQL for PostgreSQL's Marker (psycopg placeholders).
_PG_SENT = (
    f"UPDATE {Outbox.__tablename__} SET status = '{SENT}', sent_at = %(when)s,"
    " attempts = attempts + 1, claimed_by = NULL WHERE id = %(row_id)s"
)
_PG_SENT_RENDERED = _PG_SENT.replace(
    " WHERE", ", raw = %(raw)s, subject = %(subject)s, locale = %(locale)s, spec = NULL WHERE"
)

OnPermanentFailure = Callable[[Session, Outbox, PermanentSendError], None]
# (session, row, reason): a row whose spec could not be rendered; it is failed already.
OnNotRendered = Callable[[Session, Outbox, str], None]
# Renders a row's spec (outbox/spec.py's Composer); raises NotRendered.
Render = Callable[[dict[str, Any], str], Composed]


@dataclass(frozen=True)
class Policy:
    """How rows are rendered and failures settled; the same for every row of a drain."""

    max_attempts: int
    base_delay_seconds: float
    on_permanent_failure: OnPermanentFailure | None
    render: Render | None
    on_not_rendered: OnNotRendered | None
    # Failures are rare and may change contacts and libraries (the callback): one at a time.
    lock: threading.Lock


def backoff(attempts: int, base_delay_seconds: float) -> timedelta:
    """Delay after the `attempts`-th failed try: base, 2*base, 4*base... at most 6 hours."""
    exponent = min(max(attempts - 1, 0), 30)  # 2**30 * base is far past the cap already
    return min(timedelta(seconds=base_delay_seconds * 2**exponent), MAX_DELAY)


class Marker:
    """One sender's own database connection, held for the batch, that commits `sent`.

    PostgreSQL: the driver's connection in autocommit, the UPDATE prepared once per
    connection, so marking a row is one round trip (Bind/Execute of the prepared plan, one WAL
    flush) and no SQLAlchemy statement handling per mail (~0.15 ms of CPU a mail less, the
    largest share of the sender's own Python). SQLite: a transaction per row on the held
    SQLAlchemy connection (its BEGIN IMMEDIATE comes from the engine's begin hook).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._conn: Connection | None = None
        self._driver: Any = None  # PoolProxiedConnection; its .driver_connection is psycopg's

    def sent(self, row_id: int, when: datetime, composed: Composed | None) -> None:
        statement, params = _MARK_SENT, {"row_id": row_id, "when": when}
        if composed is not None:
            statement = _MARK_SENT_RENDERED
            params |= {"raw": composed.raw, "subject": composed.subject, "locale": composed.locale}
        try:
            if self.db.is_sqlite:
                if self._conn is None:
                    self._conn = self.db.engine.connect()
                with self._conn.begin():
                    self._conn.execute(statement, params)
            else:
                self._postgres(composed is not None, params)
        except Exception:
            self.close(broken=True)  # a broken connection is not reused
            raise

    def _postgres(self, rendered: bool, params: dict[str, Any]) -> None:
        if self._driver is None:
            driver = self.db.engine.raw_connection()
            driver.driver_connection.autocommit = True  # type: ignore[union-attr]
            self._driver = driver
        pg = self._driver.driver_connection
        pg.execute(_PG_SENT_RENDERED if rendered else _PG_SENT, params, prepare=True)

    def close(self, broken: bool = False) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if broken:
                conn.invalidate()
            conn.close()
        driver, self._driver = self._driver, None
        if driver is not None:
            if broken:
                driver.invalidate()  # closed, and not handed out again
                return
            try:
                if not driver.driver_connection.closed:
                    driver.driver_connection.autocommit = False  # as the pool lent it
            finally:
                driver.close()  # back to the pool (or discarded when broken)


def settle_failure(
    db: Database,
    clock: Clock,
    row_id: int,
    exc: TemporarySendError | PermanentSendError,
    policy: Policy,
    composed: Composed | None,
) -> str:
    with policy.lock:
        return _settle_failure_locked(
            db, clock.now(), row_id, exc, policy.max_attempts, policy.base_delay_seconds,
            policy.on_permanent_failure, composed,
        )  # fmt: skip


def not_rendered(db: Database, clock: Clock, row_id: int, reason: str, policy: Policy) -> str:
    """A spec that cannot be rendered will not render on a retry either: fail the row (its
    spec kept, to look at), and tell staff in the same transaction."""
    with policy.lock, db.unit_of_work() as session:
        row = session.get(Outbox, row_id)
        if row is None:
            return FAILED
        row.attempts += 1
        row.status, row.claimed_by = FAILED, None
        row.last_error = f"not rendered: {reason}"[:4000]
        if policy.on_not_rendered is not None:
            try:
                with session.begin_nested():
                    policy.on_not_rendered(session, row, reason)
            except Exception:  # the row still fails: telling staff must not make it loop
                OUTBOX.exception("outbox #%s: could not tell staff it was not rendered", row_id)
    return FAILED


def _settle_failure_locked(
    db: Database,
    now: datetime,
    row_id: int,
    exc: TemporarySendError | PermanentSendError,
    max_attempts: int,
    base_delay_seconds: float,
    on_permanent_failure: OnPermanentFailure | None,
    composed: Composed | None,
) -> str:
    with db.unit_of_work() as session:
        row = session.get(Outbox, row_id)
        if row is None:
            return FAILED  # deleted under us; nothing left to send
        if composed is not None:  # rendered for this try: the next ones send these bytes
            row.raw, row.subject, row.locale, row.spec = (
                composed.raw, composed.subject, composed.locale, None
            )  # fmt: skip
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


def note(db: Database, row_id: int, message: str) -> None:
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
