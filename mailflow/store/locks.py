"""Locks that let several `mailflow run` processes share one PostgreSQL database.

- `locked(session, obj)`: re-read a row under `SELECT ... FOR UPDATE`, so two turns that change
  one library or partnership take turns instead of overwriting each other's answer.
- `serialise(session, key)`: a transaction-scoped advisory lock on a name (a sender's address):
  what two workers would otherwise both check and both insert waits for the first to commit.
  `serialise_all(session, keys)` takes many at once, in one statement and a stable order.
- `once(session, kind, day)`: a (kind, day) row inserted with ON CONFLICT DO NOTHING; only the
  transaction that inserted it goes on (the daily digest).
- `SessionLock`: a session advisory lock held on its own connection (the IMAP poller of one
  mailbox); PostgreSQL drops it the moment that connection dies.
- `SingleProcess`: SQLite is single-process; an exclusive lock on `<db>.lock` refuses a second.

On SQLite every writer already runs alone (BEGIN IMMEDIATE), so the first three do nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import IO, TypeVar

from sqlalchemy import Connection, inspect, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from mailflow.errors import ConfigError
from mailflow.store.db import Database
from mailflow.store.schema import DailyRun

T = TypeVar("T")

# SQLSTATEs that mean "another worker got there first": deadlock, serialization failure,
# lock not available, unique violation. Rolling back the row and trying again later settles it.
CONTENTION = frozenset({"40P01", "40001", "55P03", "23505"})


def worker_id() -> str:
    """This process as leases and `mailflow status` name it: "<hostname>:<pid>"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def is_contention(exc: BaseException) -> bool:
    """Whether `exc` is a race with another worker (retry the row), not a fault of the row."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) in CONTENTION


def locked(session: Session, obj: T) -> T:
    """`obj` re-read under a row lock (PostgreSQL), held until the transaction ends.

    populate_existing: the identity map may hold a copy read before another worker committed;
    the locked read replaces it. Autoflush first writes this turn's own pending changes.
    """
    if obj is None or not is_postgres(session):
        return obj
    state = inspect(obj)
    if state.key is None or session.is_modified(obj):
        # New in this transaction (nobody else sees it), or already being written in this
        # turn, which read it under this lock before changing it: re-reading would undo that.
        return obj
    mapper = state.mapper
    where = [c == k for c, k in zip(mapper.primary_key, state.identity, strict=True)]
    query = (
        select(type(obj)).where(*where).with_for_update().execution_options(populate_existing=True)
    )
    session.execute(query).scalar_one_or_none()
    return obj


def serialise(session: Session, key: str) -> None:
    """Wait for any other transaction serialised on `key`; hold it until this one ends."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


# The keys' locks in ascending hash order: two workers whose batches share keys take them in
# the same order, so neither can hold one the other waits for while waiting itself.
_SERIALISE_ALL = text(
    "SELECT count(pg_advisory_xact_lock(h)) FROM ("
    " SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k"
    " ORDER BY h) AS ordered"
)


def serialise_all(session: Session, keys: Iterable[str]) -> None:
    """`serialise` on every key, in one round trip (a batch's senders, before its first turn)."""
    wanted = sorted(set(keys))
    if wanted and is_postgres(session):
        session.execute(_SERIALISE_ALL, {"keys": wanted})


def once(session: Session, kind: str, day: date, now: datetime) -> bool:
    """True for the one transaction that claims (kind, day); it commits with that transaction.

    A second worker's insert waits for the first to commit, then finds the row and gets False.
    """
    values = {"kind": kind, "day": day, "worker": worker_id(), "created_at": now}
    insert = pg_insert if is_postgres(session) else sqlite_insert
    statement = insert(DailyRun).values(**values).on_conflict_do_nothing()
    return session.execute(statement.returning(DailyRun.kind)).first() is not None


class SessionLock:
    """A PostgreSQL session advisory lock on its own connection (SQLite: always granted)."""

    def __init__(self, db: Database, name: str) -> None:
        self.db, self.name = db, name
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        """Take it if nobody holds it; never waits."""
        if self.db.is_sqlite:
            return True
        if self._conn is not None:
            return self.held()
        conn = self.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.scalar(
                text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"), {"k": self.name}
            )
        except Exception:
            self._drop(conn)
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        """Still ours: the connection that holds it answers."""
        if self.db.is_sqlite:
            return True
        if self._conn is None:
            return False
        try:
            self._conn.scalar(text("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - a dead connection means the lock is gone
            self._drop(self._conn)
            self._conn = None
            return False

    def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._drop(conn)

    @staticmethod
    def _drop(conn: Connection) -> None:
        # Closed, not returned to the pool: a pooled connection would keep the lock.
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()


class SingleProcess:
    """An exclusive lock on `<sqlite file>.lock` for the life of this process."""

    def __init__(self, db_path: str) -> None:
        self.path = Path(f"{db_path}.lock")
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise ConfigError naming the process that holds it."""
        handle = open(self.path, "a+")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(
                f"another `mailflow run` ({holder}) is using this SQLite database; SQLite is "
                "single-process: stop it first, or move to PostgreSQL to run several workers"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(worker_id() + "\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()  # closing drops the lock


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL, or None (PostgreSQL, or an in-memory database)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    return path if path and path != ":memory:" else None
