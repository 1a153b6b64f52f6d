"""Engine, sessions and migrations. One unit of work = one transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 (DB-API connection)
    cur = dbapi_conn.cursor()
    # WAL lets the poller, the LMTP endpoint and the processor write from separate threads;
    # NORMAL is durable across process crashes (not power loss) and much faster than FULL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    # Let SQLAlchemy, not the driver, issue BEGIN (see _sqlite_begin_immediate).
    dbapi_conn.isolation_level = None


READ_ONLY = "mailflow_read_only"  # an execution option: this connection only reads


def _sqlite_begin_immediate(conn) -> None:  # noqa: ANN001 (SQLAlchemy Connection)
    # Take the write lock at BEGIN: a deferred transaction that reads, then writes after another
    # thread committed, fails at once with SQLITE_BUSY_SNAPSHOT instead of waiting its turn.
    # A reader (Database.reading) needs no lock: in WAL it reads beside the one writer.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readers = sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
        )

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session whose work commits together or not at all."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads. On SQLite it does not wait for the write lock, so a
        thread can read (the next batch's raw mail) while another thread's write transaction
        runs; it must not write."""
        with self._readers() as session, session.begin():
            yield session

    def session(self) -> Session:
        return self._sessions()

    def upgrade(self, revision: str = "head") -> None:
        # Alembic (with Mako) costs ~12 MB a process: a worker that does not migrate
        # (database.auto_migrate = false) never imports it.
        from alembic import command

        command.upgrade(alembic_config(self.url), revision)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
