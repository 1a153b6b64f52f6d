"""Engine, sessions and migrations. One unit of work = one transaction."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from mailflow.errors import ConfigError

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
        # Alembic (with Mako and Pygments) costs ~15 MB a process, which stays: a database
        # already at head, or a worker that does not migrate (database.auto_migrate = false),
        # never imports it.
        if revision == "head" and self.at_head():
            return
        from alembic import command

        command.upgrade(alembic_config(self.url), revision)

    def upgrade_apart(self) -> None:
        """upgrade() to head in a short-lived child process, so that a long-running process
        (`mailflow run`) never holds Alembic; in this process when the database is already at
        head or lives only in this process (SQLite :memory:). ConfigError if it fails."""
        if self.at_head():
            return
        if self.is_sqlite and ":memory:" in self.url:
            self.upgrade()
            return
        done = subprocess.run(
            [sys.executable, "-c", _UPGRADE], env={**os.environ, _UPGRADE_URL: self.url},
            stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            # The traceback's exception line (SQLAlchemy adds a "Background" link after it).
            lines = done.stderr.strip().splitlines()
            raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
            reason = (raised or lines or [f"exit status {done.returncode}"])[-1]
            raise ConfigError(f"migrating the database failed: {reason}")

    def at_head(self) -> bool:
        """Whether the database's Alembic revision is the newest of the migrations, read
        without importing Alembic; False whenever that cannot be told."""
        heads = migration_heads()
        if not heads:
            return False
        try:
            with self.engine.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return False
                found = {
                    row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))
                }
        except DBAPIError:
            return False
        return found == heads

    def dispose(self) -> None:
        self.engine.dispose()


# The child of Database.upgrade_apart: the URL comes by environment (it may hold a password).
_UPGRADE_URL = "MAILFLOW_UPGRADE_DATABASE_URL"
_EXCEPTION_LINE = re.compile(r"[\w.]+(Error|Exception|Warning|Exit)\b.*:")
_UPGRADE = (
    "import os; from mailflow.store.db import Database; "
    f"Database(os.environ[{_UPGRADE_URL!r}]).upgrade()"
)


def migration_heads() -> set[str]:
    """The revisions no migration revises (Alembic's heads), read from the migration files'
    `revision` and `down_revision` assignments; empty if a file does not say them plainly."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        values: dict[str, object] = {}
        try:
            for node in ast.parse(path.read_bytes()).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                        values[target.id] = ast.literal_eval(node.value)
        except (OSError, SyntaxError, ValueError):
            return set()
        revision, down = values.get("revision"), values.get("down_revision", ...)
        if not isinstance(revision, str) or down is ...:
            return set()
        revisions.add(revision)
        for parent in down if isinstance(down, tuple | list) else [down]:
            if parent is not None:
                revised.add(str(parent))
    return revisions - revised


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
